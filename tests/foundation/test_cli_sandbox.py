"""The foundation against the sandbox over real HTTP: flag positions, namespace, errors, -v 6."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from cliutil import run_cli
from conftest import scenario_sandbox

LWS_PATH = "/apis/leaderworkerset.x-k8s.io/v1/namespaces/{ns}/leaderworkersets/{name}"


@pytest.fixture(scope="module")
def demo() -> Iterator[object]:
    with scenario_sandbox("demo") as sb:
        yield sb


@pytest.fixture
def kubeconfig(demo, tmp_path: Path) -> str:  # noqa: ANN001
    return demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="default")


def _requested(sb, path: str) -> bool:  # noqa: ANN001
    return any(entry[1] == path for entry in list(sb.request_log.entries))


@pytest.mark.parametrize("args", [
    ["-n", "demo", "status", "healthy"],
    ["status", "healthy", "-n", "demo"],
    ["--namespace=demo", "status", "healthy"],
    ["status", "--namespace", "demo", "healthy"],
])
def test_connection_flags_before_or_after_the_subcommand(demo, kubeconfig: str, args: list[str]) -> None:  # noqa: ANN001
    demo.request_log.clear()
    result = run_cli(args, kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert "healthy" in result.stdout
    assert _requested(demo, LWS_PATH.format(ns="demo", name="healthy"))


def test_kubeconfig_and_context_flags_after_the_subcommand(demo, tmp_path: Path) -> None:  # noqa: ANN001
    path = demo.write_kubeconfig(tmp_path / "other.yaml", context="sbx", namespace="demo")
    result = run_cli(["list", "--kubeconfig", path, "--context", "sbx"], kubeconfig="/nonexistent")
    assert result.exit_code == 0, result.stderr
    assert "healthy" in result.stdout  # namespace came from the context


def test_missing_lws_suggests_close_names(demo, kubeconfig: str) -> None:  # noqa: ANN001
    result = run_cli(["status", "healthy-x", "-n", "demo"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == 'error: leaderworkerset "healthy-x" not found in namespace "demo"'
    assert '"healthy"' in lines[1]


def test_forbidden_names_the_missing_permission(demo, tmp_path: Path) -> None:  # noqa: ANN001
    demo.add_token("viewer-token", "viewer", [{"verbs": ["get", "list", "watch"], "resources": ["*"]}])
    path = demo.write_kubeconfig(tmp_path / "viewer.yaml", namespace="demo", token="viewer-token")
    result = run_cli(["scale", "solo", "--replicas", "3", "-y"], kubeconfig=path)
    assert result.exit_code == 1
    assert "cannot patch resource" in result.stderr and 'namespace "demo"' in result.stderr
    assert "Traceback" not in result.stderr


def test_unauthorized_token(demo, tmp_path: Path) -> None:  # noqa: ANN001
    path = demo.write_kubeconfig(tmp_path / "bad.yaml", token="not-a-token")
    result = run_cli(["list", "-A"], kubeconfig=path)
    assert result.exit_code == 1 and result.stderr.startswith("error: Unauthorized")


def test_server_errors_are_one_line(demo, kubeconfig: str) -> None:  # noqa: ANN001
    demo.fault("fail-requests", path="/apis/leaderworkerset.x-k8s.io/v1/namespaces/demo/leaderworkersets",
               status=500, count=1)
    result = run_cli(["list", "-n", "demo"], kubeconfig=kubeconfig)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")


def test_verbose_logs_every_request(demo, kubeconfig: str) -> None:  # noqa: ANN001
    result = run_cli(["list", "-n", "demo", "-v", "6"], kubeconfig=kubeconfig)
    assert result.exit_code == 0
    logged = [line for line in result.stderr.splitlines() if line.startswith("GET /")]
    assert any(line.startswith("GET /apis/leaderworkerset.x-k8s.io/v1/namespaces/demo/leaderworkersets")
               and " 200 " in line and line.endswith("ms") for line in logged)
    assert any("labelSelector=" in line for line in logged)


def test_version_with_server(demo, kubeconfig: str) -> None:  # noqa: ANN001
    result = run_cli(["version", "--server", "-o", "json"], kubeconfig=kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert '"servedVersions": [\n      "v1"\n    ]' in result.stdout


def test_exec_collects_output_exit_code_and_string_stdin(demo) -> None:  # noqa: ANN001
    from kubectl_lws.cluster import Cluster
    from kubectl_lws.kubeconfig import ConnectionSettings

    cluster = Cluster(ConnectionSettings(server=demo.url, token=demo.admin_token, namespace="demo"))
    echoed = cluster.exec("healthy-0", ["cat"], stdin="text stdin\n", timeout=10)
    assert (echoed.stdout, echoed.exit_code) == ("text stdin\n", 0)
    failed = cluster.exec("healthy-0", ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (failed.stdout, failed.stderr, failed.exit_code) == ("out\n", "err\n", 3)
    env = cluster.exec("healthy-1-2", ["printenv", "LWS_WORKER_INDEX"], timeout=10)
    assert env.stdout == "2\n"
