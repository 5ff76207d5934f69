"""Kubeconfig merging, context/namespace resolution and durations (kubectl's rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from kubectl_lws.errors import ConfigError, UsageError
from kubectl_lws.kubeconfig import ConnectionSettings, merge_kubeconfigs, parse_duration, resolve


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    a = _write(tmp_path / "a.yaml", {
        "apiVersion": "v1", "kind": "Config", "current-context": "alpha",
        "clusters": [{"name": "c1", "cluster": {"server": "https://one:6443", "certificate-authority": "ca.crt"}}],
        "users": [{"name": "u1", "user": {"token": "t1"}}],
        "contexts": [{"name": "alpha", "context": {"cluster": "c1", "user": "u1", "namespace": "ns-a"}},
                     {"name": "shared", "context": {"cluster": "c1", "user": "u1"}}],
    })
    sub = tmp_path / "sub"
    sub.mkdir()
    b = _write(sub / "b.yaml", {
        "apiVersion": "v1", "kind": "Config", "current-context": "beta",
        "clusters": [{"name": "c2", "cluster": {"server": "https://two:6443", "certificate-authority": "ca2.crt"}},
                     {"name": "c1", "cluster": {"server": "https://shadowed:6443"}}],
        "users": [{"name": "u2", "user": {"token": "t2"}}],
        "contexts": [{"name": "beta", "context": {"cluster": "c2", "user": "u2", "namespace": "ns-b"}},
                     {"name": "shared", "context": {"cluster": "c2", "user": "u2", "namespace": "x"}}],
    })
    return a, b


def test_merge_first_file_wins(two_files: tuple[Path, Path]) -> None:
    a, b = two_files
    merged = merge_kubeconfigs([a, b])
    assert merged["current-context"] == "alpha"
    clusters = {c["name"]: c["cluster"] for c in merged["clusters"]}
    assert clusters["c1"]["server"] == "https://one:6443"  # not shadowed by the second file
    assert clusters["c2"]["server"] == "https://two:6443"
    contexts = {c["name"]: c["context"] for c in merged["contexts"]}
    assert contexts["shared"] == {"cluster": "c1", "user": "u1"}
    # relative paths resolve against the file that named them
    assert clusters["c1"]["certificate-authority"] == str(a.parent / "ca.crt")
    assert clusters["c2"]["certificate-authority"] == str(b.parent / "ca2.crt")


def test_kubeconfig_env_lists_several_files(two_files: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_files
    env = {"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing.yaml"), str(b), str(a)])}
    resolved = resolve(ConnectionSettings(), env)
    assert resolved.context_name == "beta"  # b comes first now
    assert resolved.namespace == "ns-b"
    resolved = resolve(ConnectionSettings(context="alpha"), env)
    assert resolved.namespace == "ns-a"


def test_namespace_precedence(two_files: tuple[Path, Path]) -> None:
    a, _ = two_files
    env = {"KUBECONFIG": str(a)}
    assert resolve(ConnectionSettings(namespace="flag"), env).namespace == "flag"
    assert resolve(ConnectionSettings(), env).namespace == "ns-a"
    assert resolve(ConnectionSettings(context="shared"), env).namespace == "default"


def test_unknown_context_and_missing_file(two_files: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = two_files
    with pytest.raises(ConfigError, match='context "nope" does not exist'):
        resolve(ConnectionSettings(context="nope"), {"KUBECONFIG": str(a)})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(ConnectionSettings(kubeconfig=str(tmp_path / "none.yaml")), {})


def test_malformed_kubeconfig(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed kubeconfig"):
        resolve(ConnectionSettings(kubeconfig=str(bad)), {})


def test_in_cluster_and_flags_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"KUBECONFIG": str(tmp_path / "absent.yaml"), "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert resolve(ConnectionSettings(), env).in_cluster
    only_server = resolve(ConnectionSettings(server="http://127.0.0.1:1"), {"KUBECONFIG": str(tmp_path / "x")})
    assert only_server.kubeconfig is None and only_server.namespace == "default"
    with pytest.raises(ConfigError, match="no kubeconfig found"):
        resolve(ConnectionSettings(), {"KUBECONFIG": str(tmp_path / "absent.yaml")})


@pytest.mark.parametrize("text,seconds", [("0", 0), ("30", 30), ("30s", 30), ("1m30s", 90), ("2h", 7200),
                                          ("500ms", 0.5), ("1.5", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "1m30", "-5s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_warnings_follow_the_color_flag(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from kubectl_lws.options import AppContext

    monkeypatch.delenv("NO_COLOR", raising=False)
    AppContext(color="always").warn("x")
    assert "\x1b[33mwarning:" in capsys.readouterr().err  # coloured although stderr is not a TTY
    AppContext(color="never").warn("x")
    assert capsys.readouterr().err == "warning: x\n"
    monkeypatch.setenv("NO_COLOR", "1")
    AppContext(color="auto").warn("x")
    assert capsys.readouterr().err == "warning: x\n"
