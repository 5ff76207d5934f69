"""/usr/bin/kubectl against the sandbox: discovery, server-side tables, watch, scale, merge patch."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import load_golden_objects, start_sandbox

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
LWS = "leaderworkersets.leaderworkerset.x-k8s.io"


@pytest.fixture(scope="module")
def sb() -> Iterator:
    """A bare API server (no controllers, so objects stay as created) with golden LWS `single` and its pods."""
    sandbox = start_sandbox(plugins=())
    load_golden_objects(sandbox, ("single",))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def kc(sb, tmp_path_factory) -> str:
    return sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config", namespace="golden")


def kubectl(kc: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path(kc).parent)})


def test_get_pods_table(kc: str) -> None:
    r = kubectl(kc, "get", "pods", "-l", "leaderworkerset.sigs.k8s.io/name=single")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [ln.split()[:3] for ln in lines[1:]] == [["single-0", "1/1", "Running"], ["single-1", "1/1", "Running"]]


def test_get_lws_and_wide(kc: str) -> None:
    r = kubectl(kc, "get", "lws")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "DESIRED", "UP-TO-DATE", "AGE"]
    assert [ln.split()[0] for ln in lines[1:]] == ["basic", "excl", "single", "subg", "uniq"]
    assert lines[1].split()[1:4] == ["3", "3", "3"]
    wide = kubectl(kc, "get", "leaderworkerset", "-o", "wide")
    assert wide.returncode == 0 and wide.stdout.splitlines()[0].split()[:2] == ["NAME", "READY"]


def test_get_pod_json_roundtrip(kc: str) -> None:
    r = kubectl(kc, "get", "pod", "single-0", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/name"] == "single"


def test_missing_object_error(kc: str) -> None:
    r = kubectl(kc, "get", "lws", "nope")
    assert r.returncode == 1
    assert 'leaderworkersets.leaderworkerset.x-k8s.io "nope" not found' in r.stderr


def test_scale_and_merge_patch(sb, kc: str) -> None:
    r = kubectl(kc, "scale", "lws", "single", "--replicas=3")
    assert r.returncode == 0, r.stderr
    assert "scaled" in r.stdout
    assert sb.get(LWS, "golden", "single")["spec"]["replicas"] == 3
    r = kubectl(kc, "patch", "lws", "single", "--type=merge", "-p",
                '{"spec":{"rolloutStrategy":{"rollingUpdateConfiguration":{"partition":1}}}}')
    assert r.returncode == 0, r.stderr
    lws = sb.get(LWS, "golden", "single")
    assert lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] == 1
    assert lws["metadata"]["generation"] >= 2


def test_strategic_patch_on_lws_is_415_like_kube(kc: str) -> None:
    r = kubectl(kc, "patch", "lws", "single", "-p", '{"metadata":{"labels":{"a":"b"}}}')
    assert r.returncode == 1
    assert "application/strategic-merge-patch+json is not supported" in r.stderr


def test_get_pods_watch_sees_change(sb, kc: str) -> None:
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", kc, "get", "pods", "-w", "--request-timeout=20s",
                             "-l", "leaderworkerset.sigs.k8s.io/name=single"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin",
                                                                     "HOME": str(Path(kc).parent)})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(ln) for ln in proc.stdout], daemon=True)  # type: ignore
    reader.start()
    try:
        deadline = time.monotonic() + 15
        while len(lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(lines) >= 3, (lines, proc.stderr)

        def label() -> None:
            pod = json.loads(json.dumps(sb.store.get("pods", "golden", "single-1")))
            pod["status"]["phase"] = "Failed"
            pod["status"]["reason"] = "Evicted"
            sb.store.update("pods", pod, subresource="status")
        sb.call(label)
        while not any("Evicted" in ln for ln in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(ln.split()[:1] == ["single-1"] and "Evicted" in ln for ln in lines), lines
    finally:
        proc.terminate()
        proc.wait(5)


def test_apply_create_and_reapply_pod(sb, kc: str, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\n  labels: {v: one}\nspec:\n"
                        "  containers:\n  - name: c\n    image: busybox:1\n")
    r = kubectl(kc, "apply", "-f", str(manifest))
    assert r.returncode == 0 and "pod/applied created" in r.stdout, r.stderr
    manifest.write_text(manifest.read_text().replace("one", "two").replace("busybox:1", "busybox:2"))
    r = kubectl(kc, "apply", "-f", str(manifest))
    assert r.returncode == 0 and "configured" in r.stdout, r.stderr
    pod = sb.get("pods", "golden", "applied")
    assert pod["metadata"]["labels"] == {"v": "two"} and pod["spec"]["containers"][0]["image"] == "busybox:2"


def test_get_events_table(sb, kc: str) -> None:
    sb.create("events", {"metadata": {"name": "single-0.1", "namespace": "golden"}, "type": "Warning",
                         "reason": "BackOff", "message": "Back-off restarting failed container",
                         "involvedObject": {"kind": "Pod", "name": "single-0", "namespace": "golden"},
                         "source": {"component": "kubelet"}, "count": 3})
    r = kubectl(kc, "get", "events")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()[0], r.stdout.splitlines()[1]
    assert header.split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    assert row.split()[1:4] == ["Warning", "BackOff", "pod/single-0"]


def test_get_single_objects_use_server_columns(kc: str) -> None:
    r = kubectl(kc, "get", "pod", "single-0")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    r = kubectl(kc, "get", "lws", "single", "-o", "wide")
    assert r.stdout.splitlines()[0].split() == ["NAME", "READY", "DESIRED", "UP-TO-DATE", "AGE"]


def test_create_namespace_protobuf_body(sb, kc: str) -> None:
    r = kubectl(kc, "create", "namespace", "made-by-kubectl")
    assert r.returncode == 0, r.stderr
    ns = sb.get("namespaces", None, "made-by-kubectl")
    assert ns is not None and ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "made-by-kubectl"}
    assert kubectl(kc, "delete", "namespace", "made-by-kubectl").returncode == 0


def test_get_pods_and_lws_in_one_call(kc) -> None:
    r = kubectl(kc, "get", "pods,lws")
    assert r.returncode == 0, r.stderr
    tables = r.stdout.strip().split("\n\n")
    assert tables[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert "pod/single-0" in tables[0] and "pod/single-1" in tables[0]
    assert tables[1].split()[:5] == ["NAME", "READY", "DESIRED", "UP-TO-DATE", "AGE"]
    assert "leaderworkerset.leaderworkerset.x-k8s.io/single" in tables[1]


def test_describe_lws_and_pod(kc) -> None:
    r = kubectl(kc, "describe", "lws", "single")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Name:         single\nNamespace:    golden\n")
    assert "\nKind:         LeaderWorkerSet\n" in r.stdout
    assert re.search(r"^  Replicas:\s+\d+$", r.stdout, re.M) and re.search(r"^Status:\n  Conditions:", r.stdout, re.M)
    r = kubectl(kc, "describe", "pod", "single-0")
    assert r.returncode == 0, r.stderr
    assert "Controlled By:  StatefulSet/single" in r.stdout
    assert "LWS_LEADER_ADDRESS:  single-0.single.golden" in r.stdout


def test_kubectl_as_nobody_is_refused_like_rbac(kc: str) -> None:
    """Issue 16: impersonation runs with the impersonated user's rights (none for an unknown user)."""
    r = kubectl(kc, "--as", "nobody", "get", "pods")
    assert r.returncode == 1
    assert 'User "nobody" cannot list resource "pods" in API group "" in the namespace "golden"' in r.stderr
    assert kubectl(kc, "--as", "kubernetes-admin", "get", "pods").returncode == 0
