"""kubectl's typed commands against the sandbox: the protobuf bodies they send, the kinds LWS manifests
reference (ConfigMaps, Secrets, ServiceAccounts) and RBAC that takes effect (issue 24 part 2).

Each ``kubectl create <kind>`` is checked against what the same kubectl prints with ``--dry-run=client
-o json``: the object the server stored from the protobuf body must hold every field of it."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from cliutil import wait_for
from conftest import start_sandbox

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
NS = "kinds"


@pytest.fixture(scope="module")
def sb() -> Iterator:
    sandbox = start_sandbox(plugins=("controllers",), tls=True)  # TLS: kubectl sends tokens
    sandbox.call(sandbox.store.create, "namespaces", {"metadata": {"name": NS}})
    sandbox.add_token("limited-token", "carol", [{"verbs": ["get", "list"], "resources": ["pods"],
                                                   "apiGroups": [""], "namespaces": [NS]}])
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def kc(sb, tmp_path_factory) -> str:
    return sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config", namespace=NS)


def kubectl(kc: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path(kc).parent)})


def _meaningful(value: Any) -> Any:
    """Drop what means "unset" in either form (null, "", {}, [], false, 0) so JSON and decoded protobuf
    compare: kubectl's protobuf carries every non-pointer field, its JSON leaves zero values out."""
    if isinstance(value, dict):
        out = {k: _meaningful(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {}, [], False, 0)}
    if isinstance(value, list):
        return [_meaningful(v) for v in value]
    return value


def _subset(want: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path}: {got!r} is not an object"]
        return [d for k, v in want.items() for d in _subset(v, got.get(k), f"{path}.{k}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: {got!r} != {want!r}"]
        return [d for i, (w, g) in enumerate(zip(want, got)) for d in _subset(w, g, f"{path}[{i}]")]
    return [] if want == got else [f"{path}: {got!r} != {want!r}"]


CREATE_CASES = [
    ("secret", "s1", ["secret", "generic", "s1", "--from-literal=HF_TOKEN=hf_abc", "--from-literal=b=2"]),
    ("secret", "tls1", ["secret", "docker-registry", "tls1", "--docker-server=r.example.com",
                        "--docker-username=u", "--docker-password=p"]),
    ("configmap", "chat", ["configmap", "chat", "--from-literal=template={{ messages }}"]),
    ("serviceaccount", "vllm", ["serviceaccount", "vllm"]),
    ("deployment", "router", ["deployment", "router", "--image=ghcr.io/example/router:1.0", "--replicas=2",
                              "--port=8080"]),
    ("resourcequota", "gpus", ["quota", "gpus", "--hard=requests.nvidia.com/gpu=16,pods=40"]),
    ("role", "reader", ["role", "reader", "--verb=get,list,watch", "--resource=pods,leaderworkersets.leaderworkerset.x-k8s.io"]),
    ("rolebinding", "reader", ["rolebinding", "reader", "--role=reader", "--user=bob", "--group=ml",
                               f"--serviceaccount={NS}:vllm"]),
    ("clusterrole", "lws-viewer", ["clusterrole", "lws-viewer", "--verb=get,list", "--resource=nodes"]),
    ("clusterrolebinding", "lws-viewer", ["clusterrolebinding", "lws-viewer", "--clusterrole=lws-viewer",
                                          "--user=bob"]),
    ("service", "api", ["service", "clusterip", "api", "--tcp=8000:8000"]),
    ("namespace", "kinds-extra", ["namespace", "kinds-extra"]),
]


@pytest.mark.parametrize("kind,name,args", CREATE_CASES, ids=[c[0] + "-" + c[1] for c in CREATE_CASES])
def test_typed_create_sends_protobuf_and_the_server_keeps_every_field(kc, kind, name, args):
    dry = kubectl(kc, "create", *args, "--dry-run=client", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    made = kubectl(kc, "create", *args)
    assert made.returncode == 0, made.stderr
    got = kubectl(kc, "get", kind, name, "-o", "json")
    assert got.returncode == 0, got.stderr
    want = _meaningful(json.loads(dry.stdout))
    for key in ("creationTimestamp",):
        want.get("metadata", {}).pop(key, None)
    stored = json.loads(got.stdout)
    assert stored["metadata"].get("uid") and stored["metadata"].get("creationTimestamp")
    assert _subset(want, _meaningful(stored)) == []


def test_a_pointer_zero_survives_and_secret_type_is_defaulted(kc):
    assert kubectl(kc, "create", "deployment", "idle", "--image=nginx", "--replicas=0").returncode == 0
    dep = json.loads(kubectl(kc, "get", "deployment", "idle", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 0  # *int32 set to 0 is kept, not dropped as a zero value
    secret = json.loads(kubectl(kc, "get", "secret", "s1", "-o", "json").stdout)
    assert secret["type"] == "Opaque" and secret["data"]["HF_TOKEN"] == "aGZfYWJj"


def test_tables_of_the_new_kinds(kc):
    r = kubectl(kc, "get", "configmaps,serviceaccounts,secrets")
    assert r.returncode == 0, r.stderr
    head = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("NAME")]
    assert ["NAME", "DATA", "AGE"] in head and ["NAME", "SECRETS", "AGE"] in head
    assert ["NAME", "TYPE", "DATA", "AGE"] in head
    r = kubectl(kc, "get", "rolebinding", "reader", "-o", "wide")
    cells = r.stdout.splitlines()[1].split()
    assert cells[:2] == ["reader", "Role/reader"] and "bob" in cells and f"{NS}/vllm" in cells


def test_every_namespace_gets_default_sa_and_root_ca_back_after_deletion(sb, kc):
    wait_for(lambda: sb.call(sb.store.get, "serviceaccounts", NS, "default"))
    cm = wait_for(lambda: sb.call(sb.store.get, "configmaps", NS, "kube-root-ca.crt"))
    assert "ca.crt" in cm["data"]
    assert kubectl(kc, "delete", "serviceaccount", "default").returncode == 0
    wait_for(lambda: sb.call(sb.store.get, "serviceaccounts", NS, "default"))


def test_rbac_bindings_take_effect_for_users_groups_and_service_accounts(sb, kc):
    def can(*args: str) -> str:
        return kubectl(kc, "auth", "can-i", *args).stdout.strip()

    assert kubectl(kc, "create", "role", "lws-editor", "--verb=patch",
                   "--resource=leaderworkersets.leaderworkerset.x-k8s.io", "--resource-name=vllm").returncode == 0
    assert can("patch", "leaderworkersets.leaderworkerset.x-k8s.io/vllm", "--as", "dave") == "no"
    assert kubectl(kc, "create", "rolebinding", "lws-editor", "--role=lws-editor",
                   "--group=oncall").returncode == 0
    assert can("patch", "leaderworkersets.leaderworkerset.x-k8s.io/vllm", "--as", "dave",
               "--as-group", "oncall") == "yes"
    assert can("patch", "leaderworkersets.leaderworkerset.x-k8s.io/other", "--as", "dave",
               "--as-group", "oncall") == "no"  # resourceNames bound it
    assert can("get", "pods", "--as", "bob") == "yes"  # rolebinding "reader"
    assert can("get", "pods", "-n", "default", "--as", "bob") == "no"  # only in its namespace
    assert can("list", "nodes", "--as", "bob") == "yes"  # clusterrolebinding "lws-viewer"
    assert can("delete", "pods", "--as", "bob") == "no"
    assert can("list", "pods", "--as", f"system:serviceaccount:{NS}:vllm") == "yes"
    assert can("list", "pods", "--as", f"system:serviceaccount:{NS}:other") == "no"
    # a binding is enforced on real requests, not only in reviews
    denied = kubectl(kc, "get", "nodes", "--as", "erin")
    assert denied.returncode == 1 and "forbidden" in denied.stderr
    assert kubectl(kc, "create", "clusterrolebinding", "erin-nodes", "--clusterrole=lws-viewer",
                   "--user=erin").returncode == 0
    assert kubectl(kc, "get", "nodes", "--as", "erin").returncode == 0


def test_token_rules_and_bindings_add_up_and_whoami_answers(sb, kc, tmp_path):
    limited = sb.write_kubeconfig(tmp_path / "limited", namespace=NS, token="limited-token")
    assert kubectl(limited, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert kubectl(limited, "auth", "can-i", "get", "configmaps").stdout.strip() == "no"
    assert kubectl(kc, "create", "rolebinding", "carol-cm", "--clusterrole=cm-reader", "--user=carol").returncode == 0
    assert kubectl(kc, "create", "clusterrole", "cm-reader", "--verb=get", "--resource=configmaps").returncode == 0
    assert kubectl(limited, "auth", "can-i", "get", "configmaps").stdout.strip() == "yes"
    who = kubectl(limited, "auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["status"]["userInfo"] == {"username": "carol", "groups": ["system:authenticated"]}
    listing = kubectl(limited, "auth", "can-i", "--list")
    assert listing.returncode == 0 and "configmaps" in listing.stdout and "pods" in listing.stdout


def test_a_body_the_sandbox_cannot_read_is_a_clear_status(sb):
    import urllib.error
    import urllib.request

    def post(path: str, body: bytes) -> tuple[int, dict]:
        import ssl

        req = urllib.request.Request(f"{sb.url}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/vnd.kubernetes.protobuf",
                                              "Authorization": f"Bearer {sb.admin_token}"})
        ctx = ssl.create_default_context(cafile=sb.ca_file)
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    code, status = post(f"/api/v1/namespaces/{NS}/configmaps", b"not protobuf")
    assert code == 400 and "protobuf magic" in status["message"]
    code, status = post(f"/api/v1/namespaces/{NS}/configmaps", b"k8s\x00\x0a\xff\xff")
    assert code == 400 and status["reason"] == "BadRequest"
    from kubectl_lws.sandbox import kubeproto

    unknown = kubeproto._message_class("k8s.io.apimachinery.pkg.runtime.Unknown")()
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = "example.com/v1", "Widget"
    code, status = post(f"/api/v1/namespaces/{NS}/configmaps", b"k8s\x00" + unknown.SerializeToString())
    assert code == 415 and "Widget" in status["message"]
