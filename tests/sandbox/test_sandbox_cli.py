"""`kubectl lws sandbox up|down|fault|demo` through the real CLI (subprocess for signals, CliRunner otherwise)."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from cliutil import run_cli


def _server(kc: Path) -> str:
    return yaml.safe_load(kc.read_text())["clusters"][0]["cluster"]["server"]


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/version", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def test_up_foreground_prints_export_and_ctrl_c_exits_130(tmp_path: Path) -> None:
    kc = tmp_path / "kc.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "sandbox", "up", "--kubeconfig", str(kc),
                             "--speed", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == f"export KUBECONFIG={kc}"
        url = _server(kc)
        assert _reachable(url)
        assert oct(kc.stat().st_mode & 0o777) == "0o600"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
        assert not _reachable(url)
        assert not kc.exists()  # its port and token are dead: the kubeconfig goes too
        assert "stopping sandbox" in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_detach_fault_down(tmp_path: Path) -> None:
    kc = tmp_path / "kc.yaml"
    r = run_cli(["sandbox", "up", "--detach", "--kubeconfig", str(kc), "--speed", "20"])
    try:
        assert r.exit_code == 0, r.stderr
        assert r.stdout.strip() == f"export KUBECONFIG={kc}"
        pid = int((tmp_path / "kc.yaml.pid").read_text())
        url = _server(kc)
        assert _reachable(url)
        again = run_cli(["sandbox", "up", "--detach", "--kubeconfig", str(kc)])
        assert again.exit_code != 0 and "already uses" in again.stderr
        r = run_cli(["sandbox", "fault", "fail-requests", "path=/api/v1/nodes", "status=503", "count=1",
                     "--kubeconfig", str(kc)])
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout) == {"count": 1, "path_prefix": "/api/v1/nodes", "status": 503}
        token = yaml.safe_load(kc.read_text())["users"][0]["user"]["token"]
        req = urllib.request.Request(url + "/api/v1/nodes", headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=5)
        assert ei.value.code == 503
        bad = run_cli(["sandbox", "fault", "no-such-fault", "--kubeconfig", str(kc)])
        assert bad.exit_code == 1 and "HTTP 404" in bad.stderr
    finally:
        r = run_cli(["sandbox", "down", "--kubeconfig", str(kc)])
    assert r.exit_code == 0, r.stderr
    assert not kc.exists() and not (tmp_path / "kc.yaml.pid").exists()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"detached sandbox pid {pid} still alive after down")
    assert not _reachable(url)


def test_down_without_sandbox_is_an_error(tmp_path: Path) -> None:
    r = run_cli(["sandbox", "down", "--kubeconfig", str(tmp_path / "none.yaml")])
    assert r.exit_code == 1 and "no detached sandbox" in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("kubectl_lws.sandbox.scenario") is None,
                    reason="the scenario loader (controllers developer) is not in this tree yet")
def test_demo_runs_and_exits_0() -> None:
    r = run_cli(["sandbox", "demo", "--speed", "20"])
    assert r.exit_code == 0, r.stderr
    assert "$ kubectl lws list -A" in r.stdout
    assert r.stdout.count("$ kubectl lws status ") >= 1


def test_up_tls_detached_needs_the_token_and_faults_report_clean_errors(tmp_path: Path) -> None:
    import ssl
    kc = tmp_path / "kc.yaml"
    r = run_cli(["sandbox", "up", "--detach", "--tls", "--kubeconfig", str(kc), "--speed", "20"])
    try:
        assert r.exit_code == 0, r.stderr
        cluster = yaml.safe_load(kc.read_text())["clusters"][0]["cluster"]
        assert cluster["server"].startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
        with pytest.raises(urllib.error.HTTPError) as ei:  # no token: over TLS that is not admin
            urllib.request.urlopen(cluster["server"] + "/api/v1/namespaces", context=ctx, timeout=5)
        assert ei.value.code == 401
        k = subprocess.run(["kubectl", "--kubeconfig", str(kc), "get", "ns", "default", "-o", "name"],
                           capture_output=True, text=True, timeout=30)
        assert k.returncode == 0 and k.stdout.strip() == "namespace/default", k.stderr
        ok = run_cli(["sandbox", "fault", "slow-controller", "factor=1", "--kubeconfig", str(kc)])
        assert ok.exit_code == 0 and json.loads(ok.stdout) == {"factor": 1.0}, ok.stderr
        missing = run_cli(["sandbox", "fault", "crash", "--kubeconfig", str(kc)])
        assert missing.exit_code == 1
        assert "HTTP 400 fault crash: missing 1 required positional argument: 'pod'" in missing.stderr
        gone = run_cli(["sandbox", "fault", "node-not-ready", "node=no-such-node", "--kubeconfig", str(kc)])
        assert gone.exit_code == 1 and "HTTP 404 fault node-not-ready: node no-such-node not found" in gone.stderr
        gone = run_cli(["sandbox", "fault", "fail-readiness", "pod=default/no-such-pod", "--kubeconfig", str(kc)])
        assert gone.exit_code == 1 and "HTTP 404 fault fail-readiness: pod default/no-such-pod not found" in gone.stderr
        bad = run_cli(["sandbox", "fault", "pause-controller", "controller=nope", "--kubeconfig", str(kc)])
        assert bad.exit_code == 1 and "HTTP 400" in bad.stderr and "unknown controller 'nope'" in bad.stderr
    finally:
        run_cli(["sandbox", "down", "--kubeconfig", str(kc)])


def test_up_with_an_unknown_scenario_is_a_one_line_error(tmp_path: Path) -> None:
    r = run_cli(["sandbox", "up", "--scenario", "no-such-scenario", "--kubeconfig", str(tmp_path / "kc.yaml")])
    assert r.exit_code == 1
    assert r.stderr.strip() == ("error: no scenario named or at 'no-such-scenario' (built-in: crashloop, demo, golden, queues, runtime; "
                                "or a YAML file path)")
    assert not (tmp_path / "kc.yaml").exists()


def test_help_says_plain_http_without_credentials_is_admin() -> None:
    r = run_cli(["sandbox", "up", "--help"])
    assert r.exit_code == 0
    flat = " ".join(r.stdout.split())
    assert "--tls" in flat and "plain HTTP treats a request without credentials as admin" in flat


def test_demo_keep_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    kc = tmp_path / "kc.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "sandbox", "demo", "--keep", "--speed", "20",
                             "--kubeconfig", str(kc)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and not line.startswith("export KUBECONFIG="):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, proc.stderr.read()  # type: ignore[union-attr]
        assert line.strip() == f"export KUBECONFIG={kc}"
        url = _server(kc)
        assert _reachable(url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert not _reachable(url) and not kc.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_up_with_a_scenario_the_webhooks_reject_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("objects:\n  - {apiVersion: leaderworkerset.x-k8s.io/v1, kind: LeaderWorkerSet, metadata: {name: x},"
                   " spec: {leaderWorkerTemplate: {size: 0, workerTemplate: {spec: {containers: [{name: a, image: b}]}}}}}\n")
    r = run_cli(["sandbox", "up", "--scenario", str(bad), "--kubeconfig", str(tmp_path / "kc.yaml")])
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1] == (
        f'error: cannot load scenario {bad}: admission webhook "vleaderworkerset.kb.io" denied the request: '
        'spec.leaderWorkerTemplate.size: Invalid value: 0: size must be equal or greater than 1')
    assert not (tmp_path / "kc.yaml").exists()
