"""`kubectl lws report` against the sandbox over real HTTP: manifest vs files, secrets, RBAC, caps, Ctrl-C."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from cliutil import run_cli
from conftest import scenario_sandbox

NS = "rep"
LITERAL = "hf_literal_planted_8c1d2e"          # a literal env value under a secret-looking name
SECRET_VALUE = "secret-only-in-the-secret-77"  # only inside the Secret object
LOGS = json.dumps({"rate": 1, "startup_gap": 0.0001,
                   "startup": [f"INFO startup line {{n}} of {{pod}} {'x' * 60}" for _ in range(1)] * 80,
                   "lines": ["INFO step {n}"]})


def _lws(name: str, replicas: int, size: int, *, secret_env: bool = False) -> dict:
    env = [{"name": "NCCL_DEBUG", "value": "INFO"}]
    volumes: list[dict] = []
    mounts: list[dict] = []
    if secret_env:
        env += [{"name": "HF_TOKEN", "value": LITERAL},
                {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "model-creds", "key": "api-key"}}}]
        volumes = [{"name": "creds", "secret": {"secretName": "model-creds"}}]
        mounts = [{"name": "creds", "mountPath": "/var/run/creds", "readOnly": True}]
    container = {"name": "main", "image": "vllm/vllm-openai:v0.9.1", "env": env, "volumeMounts": mounts,
                 "resources": {"requests": {"cpu": "100m"}}}
    meta: dict = {"name": name, "namespace": NS}
    if secret_env:
        applied = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                   "metadata": {"name": name, "namespace": NS},
                   "spec": {"leaderWorkerTemplate": {"workerTemplate": {"spec": {"containers": [container]}}}}}
        meta["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)}
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": meta,
            "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": size, "restartPolicy": "None",
                                                                    "workerTemplate": {
                "metadata": {"annotations": {"sandbox.kubectl-lws.dev/logs": LOGS}},
                "spec": {"containers": [container], "volumes": volumes}}}}}


SCENARIO = {
    "nodes": [{"name": f"n{i}", "capacity": {"cpu": "64", "pods": "200"}} for i in range(4)],
    "namespaces": [NS],
    "objects": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "model-creds", "namespace": NS},
         "type": "Opaque", "data": {"api-key": base64.b64encode(SECRET_VALUE.encode()).decode()}},
        _lws("app", 2, 3, secret_env=True),
        _lws("big", 12, 8),
    ],
}


@pytest.fixture(scope="module")
def sb():
    with scenario_sandbox(SCENARIO) as sandbox:
        yield sandbox


@pytest.fixture
def kc(sb, tmp_path: Path) -> str:
    return sb.write_kubeconfig(tmp_path / "kc.yaml", namespace=NS)


def _members(path: Path) -> dict[str, bytes]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            return {n: z.read(n) for n in z.namelist()}
    with tarfile.open(path, "r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def _strip_root(members: dict[str, bytes]) -> dict[str, bytes]:
    roots = {n.split("/", 1)[0] for n in members}
    assert len(roots) == 1, roots
    return {n.split("/", 1)[1]: data for n, data in members.items()}


@pytest.mark.parametrize("ext", ["zip", "tar.gz"])
def test_manifest_lists_every_file_with_its_size(kc, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"bundle.{ext}"
    r = run_cli(["report", "app", "--output", str(out), "--include-controller"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    assert f"wrote {out}" in r.stdout
    files = _strip_root(_members(out))
    manifest = json.loads(files["manifest.json"])
    listed = {f["path"]: f["bytes"] for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for path, size in listed.items():
        assert len(files[path]) == size, path
    for name in ("lws.yaml", "pods.yaml", "statefulsets.yaml", "services.yaml", "controllerrevisions.yaml",
                 "events.yaml", "events.events.k8s.io.yaml", "events.txt", "nodes.yaml", "status.json", "status.txt",
                 "verify-env.json", "rollout-history.json", "controller/deployment.yaml",
                 "controller/webhooks.yaml", "controller/crds.yaml"):
        assert name in files, name
    assert manifest["leaderWorkerSet"]["name"] == "app"
    assert manifest["versions"]["lwsController"] == "v0.10.0"
    assert manifest["notCollected"] == []
    # events.txt is the `kubectl lws events` timeline
    direct_events = run_cli(["events", "app"], kubeconfig=kc).stdout
    assert files["events.txt"].decode().splitlines()[0] == direct_events.splitlines()[0]
    assert "app" in files["events.txt"].decode()
    # the status in the bundle is the status command's own JSON
    status = json.loads(files["status.json"])
    direct = json.loads(run_cli(["status", "app", "-o", "json"], kubeconfig=kc).stdout)
    assert status["groups"][0]["leader"] == direct["groups"][0]["leader"]
    assert {p["metadata"]["name"] for p in yaml.safe_load(files["pods.yaml"])["items"]} == \
        {"app-0", "app-0-1", "app-0-2", "app-1", "app-1-1", "app-1-2"}
    assert sorted(n for n in files if n.startswith("logs/")) == ["logs/app-0/main.log", "logs/app-1/main.log"]
    assert any(n.startswith("controller/logs/lws-controller-manager-") for n in files)
    hooks = yaml.safe_load(files["controller/webhooks.yaml"])["items"]
    ca = hooks[0]["webhooks"][0]["clientConfig"]["caBundle"]
    assert ca["certificates"][0]["fingerprint"].startswith("SHA256:")  # the fingerprint, not the bundle


def test_secrets_appear_in_no_file(sb, kc, tmp_path: Path) -> None:
    out = tmp_path / "s.zip"
    sb.request_log.clear()
    r = run_cli(["report", "app", "--output", str(out), "--logs", "all", "--include-controller"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    blob = out.read_bytes()
    members = _members(out)
    needles = [LITERAL, SECRET_VALUE, base64.b64encode(SECRET_VALUE.encode()).decode(), sb.admin_token]
    for name, data in members.items():
        for needle in needles:
            assert needle.encode() not in data, (needle, name)
    for needle in needles:
        assert needle.encode() not in blob
    assert not any("/secrets" in path for _, path, *_ in sb.request_log.snapshot())
    files = _strip_root(members)
    manifest = json.loads(files["manifest.json"])
    assert manifest["redaction"]["enabled"] and manifest["redaction"]["maskedEnvValues"] > 0
    pods = yaml.safe_load(files["pods.yaml"])["items"]
    env = {e["name"]: e for e in pods[0]["spec"]["containers"][0]["env"]}
    assert env["HF_TOKEN"]["value"] == "***"
    assert env["API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "model-creds"  # the reference, not a value
    # the same run with --no-redact keeps the literal (so the search above can fail) and warns
    out2 = tmp_path / "raw.zip"
    r = run_cli(["report", "app", "--output", str(out2), "--no-redact", "--logs", "none"], kubeconfig=kc)
    assert r.exit_code == 0 and "--no-redact" in r.stderr
    assert LITERAL.encode() in _strip_root(_members(out2))["lws.yaml"]
    assert SECRET_VALUE.encode() not in out2.read_bytes()


def test_partial_rbac_is_recorded_and_exits_0(sb, tmp_path: Path, write_kubeconfig) -> None:
    rules = [{"verbs": ["get", "list"], "resources": ["leaderworkersets"], "apiGroups": ["leaderworkerset.x-k8s.io"],
              "namespaces": [NS]},
             {"verbs": ["get", "list"], "resources": ["pods", "pods/log", "services"], "apiGroups": [""],
              "namespaces": [NS]}]
    sb.add_token("report-partial", "partial", rules)
    kc = write_kubeconfig(sb, token="report-partial", namespace=NS)
    out = tmp_path / "p.zip"
    r = run_cli(["report", "app", "--output", str(out)], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.count("warning:") == 1 and "could not be collected" in r.stderr
    files = _strip_root(_members(out))
    manifest = json.loads(files["manifest.json"])
    missed = {m["item"]: m["reason"] for m in manifest["notCollected"]}
    for item in ("statefulsets", "revisions", "events.yaml", "events.events.k8s.io.yaml", "nodes.yaml"):
        assert item in missed and "forbidden" in missed[item], (item, missed)
    assert "pods.yaml" in files and "logs/app-0/main.log" in files and "status.json" in files
    # the LWS itself unreadable: exit 1, no file
    sb.add_token("report-none", "nobody", [{"verbs": ["get"], "resources": ["pods"], "apiGroups": [""]}])
    kc2 = write_kubeconfig(sb, token="report-none", namespace=NS)
    out2 = tmp_path / "none.zip"
    r = run_cli(["report", "app", "--output", str(out2)], kubeconfig=kc2)
    assert r.exit_code == 1 and "\nerror: " in r.stderr and "forbidden" in r.stderr
    assert not out2.exists() and not list(tmp_path.glob(".none.zip*"))


def test_log_cap_keeps_the_newest_bytes_and_is_noted(kc, tmp_path: Path) -> None:
    out = tmp_path / "cap.tar.gz"
    r = run_cli(["report", "app", "--output", str(out), "--max-log-bytes", "1024"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    files = _strip_root(_members(out))
    manifest = json.loads(files["manifest.json"])
    assert manifest["logs"]["maxLogBytesPerContainer"] == 1024
    assert sorted(manifest["logs"]["truncated"]) == ["logs/app-0/main.log", "logs/app-1/main.log"]
    capped = [m for m in manifest["notCollected"] if m.get("partial")]
    assert len(capped) == 2 and all("size cap" in m["reason"] for m in capped)
    assert r.stderr.count("warning:") == 1 and "2 log(s) cut at --max-log-bytes" in r.stderr
    for path in manifest["logs"]["truncated"]:
        data = files[path]
        assert 0 < len(data) <= 1024
        assert data.endswith(b"\n") and not data.startswith(b" ")  # whole lines, newest kept
        assert b"startup line 80 " in data or b"step" in data


def test_existing_file_needs_force_and_bad_names_are_usage_errors(kc, tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    out.write_bytes(b"keep me")
    r = run_cli(["report", "app", "--output", str(out), "--logs", "none"], kubeconfig=kc)
    assert r.exit_code == 1 and "already exists" in r.stderr and "--force" in r.stderr
    assert out.read_bytes() == b"keep me"
    r = run_cli(["report", "app", "--output", str(out), "--logs", "none", "--force"], kubeconfig=kc)
    assert r.exit_code == 0 and zipfile.is_zipfile(out)
    r = run_cli(["report", "app", "--output", str(tmp_path / "x.rar")], kubeconfig=kc)
    assert r.exit_code == 2 and ".zip, .tar.gz or .tgz" in r.stderr
    r = run_cli(["report"], kubeconfig=kc)
    assert r.exit_code == 2


def test_sigint_leaves_no_file_and_exits_130(kc, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "int.zip"
    env = {**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "report", "big", "--output", str(out),
                             "--logs", "all", "--concurrency", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if b"report: logs" in line or not line:
            break
    assert b"report: logs" in seen, seen
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (proc.returncode, seen + err)
    assert not out.exists()
    assert list(out_dir.iterdir()) == []  # no temporary file either


def test_previous_adds_the_crashed_instance_only(sb, kc, tmp_path: Path) -> None:
    sb.fault("crash", pod=f"{NS}/app-1", container="main")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pod = sb.get("pods", NS, "app-1")
        statuses = (pod or {}).get("status", {}).get("containerStatuses") or []
        if statuses and statuses[0].get("restartCount") and "running" in statuses[0].get("state", {}):
            break
        time.sleep(0.1)
    out = tmp_path / "prev.zip"
    r = run_cli(["report", "app", "--output", str(out), "--previous"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    files = _strip_root(_members(out))
    assert sorted(n for n in files if n.startswith("logs/")) == [
        "logs/app-0/main.log", "logs/app-1/main.log", "logs/app-1/main.previous.log"]


def test_progress_is_a_bar_on_a_tty_and_stdout_stays_one_line(kc, tmp_path: Path) -> None:
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "report", "app", "--output",
                             str(tmp_path / "tty.zip"), "--logs", "all"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert proc.wait(30) == 0
    # the shared progress helper: a rich bar (cursor hidden while it draws, the line cleared after)
    assert b"\x1b[?25l" in seen and b"6/6" in seen and b"\x1b[2K" in seen
    assert out.count("\n") == 1 and out.startswith("wrote ")
