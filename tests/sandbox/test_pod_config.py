"""The simulated kubelet reads ConfigMaps and Secrets as a kubelet does: a missing one (not optional)
holds the containers (CreateContainerConfigError, or ContainerCreating with FailedMount for volumes) until
it is created; exec sees the real values, envFrom included."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from cliutil import wait_for
from conftest import start_sandbox
from golden import GOLDEN

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
NS = "cfg"


@pytest.fixture(scope="module")
def sb() -> Iterator:
    sandbox = start_sandbox()
    sandbox.call(sandbox.store.create, "namespaces", {"metadata": {"name": NS}})
    for node in yaml.safe_load_all((GOLDEN / "inputs" / "nodes.yaml").read_text()):
        if node:
            sandbox.call(sandbox.store.create, "nodes", node)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def kc(sb, tmp_path_factory) -> str:
    return sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config", namespace=NS)


def kubectl(kc: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=30,
                          input=stdin, env={"PATH": "/usr/bin:/bin", "HOME": str(Path(kc).parent)})


def _pod(name: str, *, env=None, env_from=None, volumes=None) -> str:
    container = {"name": "server", "image": "vllm/vllm-openai:v0.8", "env": env or [], "envFrom": env_from or []}
    if volumes:
        container["volumeMounts"] = [{"name": v["name"], "mountPath": f"/cfg/{v['name']}"} for v in volumes]
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
                           "spec": {"containers": [container], "volumes": volumes or []}})


def _waiting(kc: str, pod: str) -> dict | None:
    obj = json.loads(kubectl(kc, "get", "pod", pod, "-o", "json").stdout or "{}")
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    return (statuses[0].get("state") or {}).get("waiting") if statuses else None


def test_missing_secret_holds_the_container_until_it_exists(kc):
    env = [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
           {"name": "OPTIONAL", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}}}]
    assert kubectl(kc, "apply", "-f", "-", stdin=_pod("needs-secret", env=env)).returncode == 0
    waiting = wait_for(lambda: _waiting(kc, "needs-secret"))
    assert waiting == {"reason": "CreateContainerConfigError", "message": 'secret "hf" not found'}
    events = kubectl(kc, "get", "events", "--field-selector", "involvedObject.name=needs-secret").stdout
    assert 'Error: secret "hf" not found' in events
    # the Secret exists but lacks the key: still waiting, with kubelet's other message
    assert kubectl(kc, "create", "secret", "generic", "hf", "--from-literal=other=x").returncode == 0
    wait_for(lambda: (_waiting(kc, "needs-secret") or {}).get("message") == f"couldn't find key token in Secret {NS}/hf")
    assert kubectl(kc, "delete", "secret", "hf").returncode == 0
    assert kubectl(kc, "create", "secret", "generic", "hf", "--from-literal=token=hf_real").returncode == 0
    wait_for(lambda: kubectl(kc, "get", "pod", "needs-secret", "-o", "jsonpath={.status.phase}").stdout == "Running")
    printed = kubectl(kc, "exec", "needs-secret", "--", "printenv", "HF_TOKEN")
    assert printed.stdout == "hf_real\n", printed.stderr
    assert kubectl(kc, "exec", "needs-secret", "--", "printenv", "OPTIONAL").returncode == 1  # optional: unset


def test_env_from_brings_every_key_with_its_prefix(kc):
    assert kubectl(kc, "create", "configmap", "vllm-args", "--from-literal=MAX_MODEL_LEN=8192",
                   "--from-literal=DTYPE=bf16").returncode == 0
    env_from = [{"configMapRef": {"name": "vllm-args"}, "prefix": "VLLM_"}]
    assert kubectl(kc, "apply", "-f", "-", stdin=_pod("env-from", env_from=env_from)).returncode == 0
    wait_for(lambda: kubectl(kc, "get", "pod", "env-from", "-o", "jsonpath={.status.phase}").stdout == "Running")
    out = kubectl(kc, "exec", "env-from", "--", "printenv").stdout
    assert "VLLM_MAX_MODEL_LEN=8192" in out and "VLLM_DTYPE=bf16" in out


def test_missing_configmap_volume_is_a_failed_mount(kc):
    volumes = [{"name": "chat", "configMap": {"name": "chat-template"}}]
    assert kubectl(kc, "apply", "-f", "-", stdin=_pod("needs-volume", volumes=volumes)).returncode == 0
    assert wait_for(lambda: _waiting(kc, "needs-volume")) == {"reason": "ContainerCreating"}
    events = kubectl(kc, "get", "events", "--field-selector", "involvedObject.name=needs-volume").stdout
    assert 'MountVolume.SetUp failed for volume "chat" : configmap "chat-template" not found' in events
    assert kubectl(kc, "create", "configmap", "chat-template", "--from-literal=t=x").returncode == 0
    wait_for(lambda: kubectl(kc, "get", "pod", "needs-volume", "-o", "jsonpath={.status.phase}").stdout == "Running")
