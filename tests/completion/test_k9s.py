"""completions/k9s/plugins.yaml: what `kubectl lws completion k9s` prints, valid in k9s's plugin format, and every
command it names runs against the sandbox (through kubectl, which finds kubectl-lws on PATH, as k9s would)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from cliutil import run_cli

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "completions" / "k9s" / "plugins.yaml"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

# k9s's schema for plugins.yaml (internal/config/json/schemas/plugins.json): one top-level key, and per plugin
# these keys and types, four of them required.
TOP = {"plugins"}
KEYS = {"shortCut": str, "override": bool, "description": str, "confirm": bool, "dangerous": bool, "scopes": list,
        "command": str, "background": bool, "overwriteOutput": bool, "args": list}
REQUIRED = {"shortCut", "description", "scopes", "command"}
# What k9s parses as a key (internal/ui/key.go): a letter or digit, or Shift-/Ctrl-/Alt- and one.
SHORTCUT = re.compile(r"^(?:(?:Shift|Ctrl|Alt)-)?[A-Za-z0-9]$")
# k9s's own keys in a custom resource view that a plugin must not take over (without `override`).
TAKEN = {"d", "e", "y", "Ctrl-D", "Ctrl-K", "Shift-N", "Shift-A", "Ctrl-W", "Ctrl-Z", "Ctrl-S"}
# The variables k9s substitutes in args (internal/view/env.go and the plugin docs).
K9S_VARS = {"NAME", "NAMESPACE", "CONTEXT", "CLUSTER", "USER", "GROUPS", "KUBECONFIG", "RESOURCE_NAME",
            "RESOURCE_GROUP", "RESOURCE_VERSION", "POD", "CONTAINER", "FILTER"}


def load() -> dict:
    return yaml.safe_load(PLUGINS.read_text())


def test_command_prints_the_checked_in_file():
    r = run_cli(["completion", "k9s"])
    assert r.exit_code == 0 and r.stdout == PLUGINS.read_text()


def test_valid_in_k9s_plugin_format():
    doc = load()
    assert set(doc) == TOP
    seen: dict[tuple[str, str], str] = {}
    for name, plugin in doc["plugins"].items():
        assert REQUIRED <= set(plugin), name
        for key, value in plugin.items():
            assert key in KEYS, f"{name}: {key} is not a k9s plugin key"
            assert isinstance(value, KEYS[key]), f"{name}: {key} must be {KEYS[key].__name__}"
        assert all(isinstance(a, (str, int, float)) for a in plugin.get("args", [])), name
        assert all(isinstance(s, str) for s in plugin["scopes"]) and plugin["scopes"], name
        assert SHORTCUT.match(plugin["shortCut"]) and plugin["shortCut"] not in TAKEN, name
        for scope in plugin["scopes"]:
            assert (scope, plugin["shortCut"]) not in seen, f"{name} and {seen.get((scope, plugin['shortCut']))}"
            seen[(scope, plugin["shortCut"])] = name
        used = {v for a in plugin.get("args", []) for v in re.findall(r"\$!?([A-Z_]+)", str(a))}
        assert used <= K9S_VARS, f"{name}: {used - K9S_VARS}"
        assert not plugin.get("dangerous") and not plugin.get("confirm")  # all of them only read
    assert {s for p in doc["plugins"].values() for s in p["scopes"]} == {"leaderworkersets", "disaggregatedsets"}
    wanted = {"status", "metrics", "logs", "history"}
    for scope in ("leaderworkersets", "disaggregatedsets"):
        argv = " ".join(" ".join(map(str, p["args"])) for p in doc["plugins"].values() if scope in p["scopes"])
        assert all(re.search(rf"\b{w}\b", argv) for w in wanted), scope


def _argv(plugin: dict, env: dict[str, str]) -> list[str]:
    """k9s's substitution: each $VAR it knows becomes its value, inside the arguments."""
    def sub(arg: str) -> str:
        return re.sub(r"\$([A-Z_]+)", lambda m: env.get(m.group(1), m.group(0)), str(arg))
    return [plugin["command"], *[sub(a) for a in plugin.get("args", [])]]


@pytest.fixture(scope="module")
def demo(sandbox, tmp_path_factory):
    sandbox.load_scenario("demo")
    sandbox.wait_settled(60)
    return sandbox.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig.yaml", namespace="demo")


@pytest.mark.parametrize("name", sorted(load()["plugins"]))
def test_every_command_runs_against_the_sandbox(name, demo):
    plugin = load()["plugins"][name]
    ds = "disaggregatedsets" in plugin["scopes"]
    if plugin["command"] == "bash" and not shutil.which("less"):
        pytest.skip("no less on this machine")
    assert shutil.which("kubectl-lws"), "kubectl-lws must be on PATH (pip install -e .)"
    env = {**os.environ, "KUBECONFIG": demo, "NO_COLOR": "1", "TERM": "dumb"}
    values = {"NAME": "pd-rolling" if ds else "healthy", "NAMESPACE": "pd" if ds else "demo",
              "CONTEXT": "kubectl-lws-sandbox"}
    argv = _argv(plugin, values)
    if argv[0] == "kubectl":
        argv[0] = KUBECTL
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=6)
    except subprocess.TimeoutExpired:  # a live view: it ran until k9s's user would press Ctrl-C
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode in (130, 0), err
    else:
        assert proc.returncode == 0, err
    assert "error:" not in err and "Traceback" not in err
    expected = {"lws-status": "healthy", "lws-metrics": "GEN TOK/S", "lws-logs": "g0/w0 ",
                "lws-history": "REVISION", "ds-status": "pd-rolling", "ds-metrics": "ROLE      SLICE   REVISION",
                "ds-logs": "prefill/s0/",
                "ds-history": "REVISION"}.get(name, "healthy")
    assert expected in out, (name, out[-2000:], err[-2000:])
