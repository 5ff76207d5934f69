"""Completion: the scripts in completions/ match the command, and the protocol engine answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cliutil import run_cli
from kubectl_lws.completion_entry import DIRECTIVE_DEFAULT, DIRECTIVE_NO_FILE, complete, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_checked_in_scripts_equal_command_output(shell: str) -> None:
    result = run_cli(["completion", shell])
    assert result.exit_code == 0
    assert (ROOT / "completions" / f"kubectl-lws.{shell}").read_text() == result.stdout


def test_bash_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "completions" / "kubectl-lws.bash")], check=True)


def _values(words: list[str]) -> tuple[list[str], int]:
    found, directive = complete(words)
    return [v for v, _ in found], directive


def test_subcommands_and_flags_without_the_client() -> None:
    names, directive = _values([""])
    assert {"version", "completion"} <= set(names)
    assert directive == DIRECTIVE_NO_FILE
    assert _values(["vers"])[0] == ["version"]
    flags, _ = _values(["version", "--req"])
    assert flags == ["--request-timeout"]
    assert "-n" in _values(["version", "-"])[0]


def test_option_values() -> None:
    assert _values(["version", "-o", ""]) == (["text", "json", "yaml"], DIRECTIVE_NO_FILE)
    assert _values(["version", "--output=j"]) == (["--output=json"], DIRECTIVE_NO_FILE)
    assert _values(["--kubeconfig", ""])[1] == DIRECTIVE_DEFAULT  # files, from the shell
    assert _values(["completion", ""])[0] == ["bash", "zsh", "fish", "k9s", "install"]


def test_contexts_from_kubeconfig(tmp_path: Path) -> None:
    config = tmp_path / "kc.yaml"
    config.write_text("apiVersion: v1\nkind: Config\ncontexts:\n- name: prod\n  context: {cluster: c}\n"
                      "- name: staging\n  context: {cluster: c}\nclusters: []\nusers: []\n")
    assert _values(["--kubeconfig", str(config), "--context", "st"])[0] == ["staging"]


def test_unreachable_cluster_completes_to_nothing_quickly() -> None:
    started = time.monotonic()
    assert _values(["--server", "http://127.0.0.1:1", "-n", ""]) == ([], DIRECTIVE_NO_FILE)
    assert time.monotonic() - started < 3


def test_protocol_output_through_the_console_scripts() -> None:
    out = subprocess.run([sys.executable, "-m", "kubectl_lws", "__complete", "version", "-o", "y"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "yaml\n:4\n"
    assert render([("a", "help"), ("b", "")], 4) == "a\thelp\nb\n:4\n"


def test_install_writes_the_krew_shim(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    result = run_cli(["completion", "install", "--krew-root", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    shim = tmp_path / "bin" / "kubectl_complete-lws"
    assert shim.read_text().startswith("#!/bin/sh") and shim.stat().st_mode & 0o111
    missing = run_cli(["completion", "install", "--krew-root", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no krew bin folder" in missing.stderr


@pytest.fixture(scope="module")
def demo_kubeconfig(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from conftest import scenario_sandbox

    with scenario_sandbox("demo") as sb:
        yield sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kc.yaml", namespace="default")


def test_live_names_from_the_cluster(demo_kubeconfig: str) -> None:
    kc = ["--kubeconfig", demo_kubeconfig]
    assert _values([*kc, "status", "-n", "demo", "h"])[0] == ["healthy"]
    assert _values(["status", *kc, "--namespace=demo", ""])[0] == ["canary", "crashy", "healthy", "solo"]
    assert "demo" in _values([*kc, "-n", ""])[0]
    assert _values([*kc, "-n", "demo", "status", "healthy", "-g", ""])[0] == ["0", "1", "2"]
    assert _values([*kc, "-n", "demo", "logs", "healthy", "-c", ""])[0] == ["leader", "worker"]
    assert _values([*kc, "status", "pin"])[0] == ["pinned"]  # the context's namespace (default)
