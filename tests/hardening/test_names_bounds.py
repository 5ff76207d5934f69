"""Items 3 and 4 of issue 16: hostile names and unbounded numbers are refused (exit 2) before any request."""

from __future__ import annotations

import time

import pytest

from cliutil import run_cli
from kubectl_lws.cluster import resource_path
from kubectl_lws.errors import UsageError

NAME_COMMANDS = [
    ["status", "{n}"],
    ["rollout", "pause", "{n}", "-y"],
    ["rollout", "resume", "{n}", "-y"],
    ["rollout", "canary", "{n}", "--groups", "1", "-y"],
    ["rollout", "promote", "{n}", "--full", "-y"],
    ["rollout", "status", "{n}", "--timeout", "2s"],
    ["rollout", "history", "{n}"],
    ["rollout", "undo", "{n}", "-y"],
    ["scale", "{n}", "--replicas", "3", "-y"],
    ["restart", "{n}", "-g", "0", "-y"],
    ["logs", "{n}", "--tail", "1"],
    ["verify", "env", "{n}"],
    ["verify", "nccl", "{n}", "--static"],
    ["verify", "runtime", "{n}"],
    ["events", "{n}"],
    ["report", "{n}", "--output", "/tmp/i16a-never.zip"],
]
HOSTILE = ["nothere/../victim", "victim#frag", "victim?x=1", "../victim", "Victim", "victim/", "vic tim",
           "victim%2f", "victim.", "x" * 254]


def _victim_state(hard) -> tuple:  # noqa: ANN001
    lws = hard.get("leaderworkersets.leaderworkerset.x-k8s.io", "hard", "victim")
    return lws["metadata"]["resourceVersion"], lws["spec"]["replicas"]


@pytest.mark.parametrize("command", NAME_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_hostile_names_are_refused_before_any_request(hard, kc: str, command: list[str]) -> None:  # noqa: ANN001
    before = _victim_state(hard)
    for name in HOSTILE:
        hard.request_log.clear()
        args = [a.format(n=name) for a in command]
        result = run_cli(args, kubeconfig=kc)
        assert result.exit_code == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: invalid leaderworkerset name "), lines
        assert "RFC 1123 subdomain" in lines[0] or "no more than 253" in lines[0]
        assert hard.request_log.snapshot() == [], (name, hard.request_log.snapshot())
    assert _victim_state(hard) == before


def test_the_examples_of_the_issue(hard, kc: str) -> None:  # noqa: ANN001
    before = _victim_state(hard)
    r = run_cli(["rollout", "pause", "nothere/../victim", "-n", "hard", "-y"], kubeconfig=kc)
    assert r.exit_code == 2
    assert r.stderr.startswith('error: invalid leaderworkerset name "nothere/../victim": a lowercase RFC 1123 '
                               "subdomain must consist of lower case alphanumeric characters")
    r = run_cli(["scale", "nothere/../victim", "--replicas", "3", "-y"], kubeconfig=kc)
    assert r.exit_code == 2
    assert _victim_state(hard) == before


@pytest.mark.parametrize("namespace", ["../hard", "Hard", "hard/x", "a_b", "x" * 64])
def test_hostile_namespaces_are_refused(hard, kc: str, namespace: str) -> None:  # noqa: ANN001
    hard.request_log.clear()
    r = run_cli(["status", "web", "-n", namespace], kubeconfig=kc)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: invalid namespace ")
    assert hard.request_log.snapshot() == []


def test_a_hostile_namespace_in_the_kubeconfig_is_refused_too(hard, tmp_path) -> None:  # noqa: ANN001
    path = hard.write_kubeconfig(tmp_path / "bad.yaml", namespace="hard/../default")
    hard.request_log.clear()
    r = run_cli(["list"], kubeconfig=path)
    assert r.exit_code == 2 and r.stderr.startswith('error: invalid namespace "hard/../default"'), r.stderr
    assert hard.request_log.snapshot() == []


def test_container_names_and_selectors_are_checked(hard, kc: str) -> None:  # noqa: ANN001
    hard.request_log.clear()
    r = run_cli(["logs", "web", "-c", "main/../x"], kubeconfig=kc)
    assert r.exit_code == 2 and r.stderr.startswith('error: invalid container name "main/../x"')
    r = run_cli(["list", "-l", "team in (a"], kubeconfig=kc)
    assert r.exit_code == 2 and r.stderr.startswith('error: invalid label selector "team in (a"')
    r = run_cli(["rollout", "pause", "-l", "a b", "-y"], kubeconfig=kc)
    assert r.exit_code == 2 and "invalid label selector" in r.stderr
    assert hard.request_log.snapshot() == []
    ok = run_cli(["list", "-l", "app.kubernetes.io/name notin (x, y),!nothere"], kubeconfig=kc)
    assert ok.exit_code == 0, ok.stderr


def test_paths_are_checked_and_encoded_in_one_place() -> None:
    assert resource_path("pods", "hard", "web-0", "log") == "/api/v1/namespaces/hard/pods/web-0/log"
    for ns, name in (("hard", "a/../b"), ("hard", ".."), ("..", "web"), ("hard", "web?x=1")):
        with pytest.raises(UsageError):
            resource_path("leaderworkersets", ns, name)


@pytest.mark.parametrize("args, message", [
    (["scale", "victim", "--replicas", "2147483648", "--dry-run"], "--replicas must be at most 2147483647"),
    (["scale", "victim", "--replicas", "99999999999999999999", "--dry-run"], "--replicas must be at most"),
    (["scale", "victim", "--replicas", "3", "--current-replicas", "4294967296"], "--current-replicas must be at most"),
    (["logs", "web", "--tail", str(2**63)], "invalid value for --tail"),
    (["logs", "web", "--max-streams", "100000000"], "invalid value for --max-streams"),
    (["restart", "web", "--all", "--rolling", "--max-unavailable", "99999999999999999999"],
     "invalid value for --max-unavailable"),
    (["rollout", "canary", "web", "--groups", "99999999999999999999"], "invalid value for --groups"),
    (["rollout", "promote", "web", "--step", "99999999999999999999"], "invalid value for --step"),
    (["status", "web", "-w", "--timeout", "99999999999h"], 'invalid duration "99999999999h"'),
    (["list", "--request-timeout", "99999999999999999999"], "invalid duration"),
])
def test_numbers_beyond_their_bounds_are_refused_before_any_request(hard, kc: str, args, message) -> None:  # noqa: ANN001
    hard.request_log.clear()
    r = run_cli(args, kubeconfig=kc)
    assert r.exit_code == 2, r.stderr
    assert message in r.stderr.splitlines()[0]
    assert hard.request_log.snapshot() == []


def test_scale_to_the_int32_limit_plans_without_building_a_list(hard, kc: str) -> None:  # noqa: ANN001
    started = time.monotonic()
    r = run_cli(["scale", "victim", "--replicas", "2147483647", "--dry-run"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    assert "new groups 1-2147483646: 2147483646 pods" in r.stderr
    assert time.monotonic() - started < 10
    too_big = run_cli(["scale", "web", "--replicas", "2147483647", "--dry-run"], kubeconfig=kc)
    assert too_big.exit_code == 2 and "replicas x size must fit an int32" in too_big.stderr


@pytest.mark.parametrize("args", [["report", "web", "--controller-namespace", "Bad_NS", "--include-controller"],
                                  ["report", "web", "--controller-namespace", "../kube-system"]])
def test_namespace_flags_of_report_are_checked(hard, kc: str, args: list[str]) -> None:  # noqa: ANN001
    hard.request_log.clear()
    r = run_cli(args, kubeconfig=kc)
    assert r.exit_code == 2 and r.stderr.startswith("error: invalid namespace "), r.stderr
    assert hard.request_log.snapshot() == []


def test_every_name_argument_is_checked_while_parsing() -> None:
    """A merge or a new command that takes NAME as a plain string is caught here (sandbox's NAME is a fault)."""
    import importlib

    import click

    from kubectl_lws.cli import COMMANDS
    from kubectl_lws.options import NameType

    def walk(cmd: click.Command, path: str):  # noqa: ANN202
        yield path, cmd
        if isinstance(cmd, click.Group):
            for sub_name, sub in cmd.commands.items():
                yield from walk(sub, f"{path} {sub_name}")

    unchecked = []
    for name, (module, attr, _) in COMMANDS.items():
        if name == "sandbox":
            continue
        for path, cmd in walk(getattr(importlib.import_module(module), attr), name):
            for param in cmd.params:
                if isinstance(param, click.Argument) and param.name == "name" and \
                        not isinstance(param.type, NameType):
                    unchecked.append(path)
    assert unchecked == []
