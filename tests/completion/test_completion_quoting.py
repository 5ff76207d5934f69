"""Issue 25 class 4: completion never runs what a kubeconfig or a cluster names, and `completion install`
never writes through a link.

The real bash, zsh and fish (when installed; CI installs them) source the checked-in scripts and complete
context names such as ``$(touch pwned)``: nothing may be created, and every value reaches the shell as
text (bash: quoted in COMPREPLY; zsh: handed to ``_describe``, whose ``compadd`` quotes it; fish: as a
candidate of ``complete -C``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cliutil import run_cli
from kubectl_lws.completion_entry import render

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["$(touch {d}/pwned-dollar)", "`touch {d}/pwned-tick`", "x;touch {d}/pwned-semi", "prod ctx",
           "it's", 'say "hi"', "ok"]


@pytest.fixture
def hostile_kubeconfig(tmp_path: Path) -> tuple[Path, list[str]]:
    names = [n.format(d=tmp_path) for n in HOSTILE] + ["two\nlines:4", "esc\x1b]0;x\x07"]
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
           "users": [{"name": "u", "user": {}}],
           "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in names]}
    path = tmp_path / "kc.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path, [n.format(d=tmp_path) for n in HOSTILE]


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _nothing_ran(tmp_path: Path) -> None:
    assert not list(tmp_path.glob("pwned*")), list(tmp_path.iterdir())


def test_engine_leaves_out_what_is_not_text_and_escapes_descriptions() -> None:
    out = render([("ok", "fine"), ("two\nlines", "x"), ("tab\there", ""), ("esc\x1b[2J", ""), ("d", "\x1b]0;t\x07")], 4)
    assert out == "ok\tfine\nd\t^[]0;t^G\n:4\n"


def test_bash_quotes_every_value_and_evaluates_none(hostile_kubeconfig, tmp_path: Path) -> None:
    kc, names = hostile_kubeconfig
    script = (f"source {ROOT / 'completions' / 'kubectl-lws.bash'}\n"
              f"COMP_WORDS=(kubectl-lws --kubeconfig {kc} --context ''); COMP_CWORD=4\n"
              "_kubectl_lws\n"
              'for c in "${COMPREPLY[@]}"; do eval "v=$c"; printf "%s\\0" "$v"; done\n')
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=_env(), cwd=tmp_path,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split("\0")[:-1]) == sorted(names)  # each entry reads back as the name itself
    _nothing_ran(tmp_path)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_hands_values_to_describe_and_evaluates_none(hostile_kubeconfig, tmp_path: Path) -> None:
    kc, names = hostile_kubeconfig
    script = ("compdef() {}; _files() {}\n"
              "_describe() { local c; for c in \"${(@P)2}\"; do print -rn -- \"${c%%:context}\"; print -n '\\0'; done }\n"
              f"source {ROOT / 'completions' / 'kubectl-lws.zsh'}\n"
              f"words=(kubectl-lws --kubeconfig {kc} --context ''); CURRENT=5\n"
              "_kubectl_lws\n")
    done = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=_env(), cwd=tmp_path,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    shown = [v.replace("\\:", ":") for v in done.stdout.split("\0")[:-1]]
    assert sorted(shown) == sorted(names)
    _nothing_ran(tmp_path)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_lists_values_as_text_and_evaluates_none(hostile_kubeconfig, tmp_path: Path) -> None:
    kc, names = hostile_kubeconfig
    script = (f"source {ROOT / 'completions' / 'kubectl-lws.fish'}\n"
              f"complete -C'kubectl-lws --kubeconfig {kc} --context '\n")
    done = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True, env=_env(),
                          cwd=tmp_path, timeout=30)
    assert done.returncode == 0, done.stderr
    shown = [line.split("\t", 1)[0] for line in done.stdout.splitlines()]
    assert sorted(shown) == sorted(names)
    _nothing_ran(tmp_path)


def test_install_replaces_a_link_and_never_writes_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "system-file"
    victim.write_text("precious\n")
    bin_dir = tmp_path / "krew" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "kubectl_complete-lws"
    shim.symlink_to(victim)
    result = run_cli(["completion", "install", "--krew-root", str(tmp_path / "krew")])
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    assert not shim.is_symlink() and shim.read_text().startswith("#!/bin/sh") and shim.stat().st_mode & 0o111
    assert sorted(p.name for p in bin_dir.iterdir()) == ["kubectl_complete-lws"]  # no temporary file left
