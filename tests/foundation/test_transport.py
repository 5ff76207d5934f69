"""The two transports (issue #14): light (http.client/urllib3) for plain credentials, the kubernetes
client for exec credential plugins; small commands never import the client.

End to end against a TLS sandbox: every request there needs the token, so a plugin that hands out
the wrong one fails, which proves the plugin is what authenticates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import start_sandbox

PROBE = r"""
import json, sys
from kubectl_lws.cli import cli
try:
    cli.main(args={args!r}, prog_name="kubectl lws")
except SystemExit as exc:
    code = exc.code
sys.stdout.write("\nPROBE " + json.dumps([code, "kubernetes" in sys.modules, "urllib3" in sys.modules]) + "\n")
"""


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory):
    sb = start_sandbox(tls=True)
    sb.ensure_namespace("tr")
    sb.create("leaderworkersets.leaderworkerset.x-k8s.io", {
        "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
        "metadata": {"name": "solo", "namespace": "tr"},
        "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 1, "workerTemplate": {"spec": {
            "containers": [{"name": "main", "image": "example/app:1"}]}}}}})
    try:
        yield sb, tmp_path_factory.mktemp("tr")
    finally:
        sb.stop()


def _exec_kubeconfig(sb, tmp: Path, token: str) -> str:
    plugin = tmp / f"plugin-{token[:6]}.py"
    plugin.write_text(
        "import json, os\n"
        "info = json.loads(os.environ.get('KUBERNETES_EXEC_INFO', '{}'))\n"
        f"print(json.dumps({{'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',"
        f" 'status': {{'token': {token!r}}}}}))\n")
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
           "clusters": [{"name": "x", "cluster": {"server": sb.url, "certificate-authority": sb.ca_file}}],
           "users": [{"name": "x", "user": {"exec": {
               "apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
               "args": [str(plugin)], "interactiveMode": "Never"}}}],
           "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x", "namespace": "tr"}}]}
    path = tmp / f"kc-exec-{token[:6]}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _probe(args: list[str], kubeconfig: str) -> tuple[list, str]:
    env = {**os.environ, "KUBECONFIG": kubeconfig, "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                         env=env, timeout=60)
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("PROBE "), out.stdout + out.stderr
    return json.loads(last[6:]), out.stdout + out.stderr


def test_exec_credential_plugin_authenticates(tls_sandbox) -> None:
    sb, tmp = tls_sandbox
    (code, kube, _), out = _probe(["status", "solo", "--no-placement"], _exec_kubeconfig(sb, tmp, sb.admin_token))
    assert code in (0, None), out
    assert "solo" in out
    assert kube  # exec plugins are the kubernetes client's job


def test_a_wrong_token_from_the_plugin_is_refused(tls_sandbox) -> None:
    sb, tmp = tls_sandbox
    (code, _, _), out = _probe(["status", "solo"], _exec_kubeconfig(sb, tmp, "not-the-token"))
    assert code == 1, out
    assert "Unauthorized" in out


def test_token_kubeconfig_over_tls_uses_the_light_transport(tls_sandbox) -> None:
    sb, tmp = tls_sandbox
    kc = sb.write_kubeconfig(tmp / "kc-token.yaml", namespace="tr")
    (code, kube, urllib3), out = _probe(["status", "solo", "--no-placement"], kc)
    assert code in (0, None), out
    assert "solo" in out
    assert not kube and not urllib3, "status must not import the kubernetes client nor urllib3"
    (code, kube, _), out = _probe(["list"], kc)
    assert code in (0, None) and not kube, out


def test_completion_of_names_does_not_import_the_client(tls_sandbox) -> None:
    sb, tmp = tls_sandbox
    kc = sb.write_kubeconfig(tmp / "kc-comp.yaml", namespace="tr")
    code = ("import sys\nfrom kubectl_lws.completion_entry import main\n"
            "sys.argv = ['kubectl_complete-lws', 'status', '']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('KUBE' if 'kubernetes' in sys.modules else 'NOKUBE')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KUBECONFIG": kc})
    assert "solo" in out.stdout, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "NOKUBE", out.stdout


def test_a_proxy_in_the_environment_hands_the_request_to_the_client(tls_sandbox, monkeypatch) -> None:
    """The light transport does not speak to proxies; the kubernetes client honours HTTPS_PROXY and
    NO_PROXY. With the sandbox's host in NO_PROXY the client goes direct, so status still works."""
    sb, tmp = tls_sandbox
    kc = sb.write_kubeconfig(tmp / "kc-proxy.yaml", namespace="tr")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    (code, kube, _), out = _probe(["status", "solo", "--no-placement"], kc)
    assert code in (0, None), out
    assert "solo" in out
    assert kube, "with a proxy in the environment the kubernetes client must carry the request"


# ---- chunked bodies: kube-apiserver sends big LISTs with Transfer-Encoding: chunked -----------------

def _golden_lists() -> dict[str, bytes]:
    from golden import GOLDEN

    pods = [p for name in ("basic", "single", "subg")
            for p in json.loads((GOLDEN / f"objects/{name}/pods.json").read_text())["items"]]
    pod_list = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "2460"}, "items": pods}
    lws_list = json.loads((GOLDEN / "objects/leaderworkersets-list.json").read_text())
    for lws in lws_list["items"]:
        # as an older controller (no observedGeneration) reports them: `list` judges them from their pods
        lws["status"].pop("observedGeneration", None)
    return {"/apis/leaderworkerset.x-k8s.io/v1/namespaces/golden/leaderworkersets": json.dumps(lws_list).encode(),
            "/api/v1/namespaces/golden/pods": json.dumps(pod_list).encode(),
            "/api/v1/nodes": (GOLDEN / "objects/nodes.json").read_bytes()}


def _replayer(bodies: dict[str, bytes], mode: str, seen: list[str]):
    """Answers each request with the recorded list for its path (an empty EventList otherwise), framed
    by Content-Length, by chunks of 1,000 bytes with an extension and a trailer, or cut mid-chunk."""
    empty = b'{"kind":"EventList","apiVersion":"v1","metadata":{"resourceVersion":"2460"},"items":[]}'

    def answer(conn, stop) -> None:  # noqa: ANN001
        conn.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head:
            part = conn.recv(65536)
            if not part:
                return
            head += part
        path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
        seen.append(path)
        body = bodies.get(path, empty)
        lines = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        if mode == "length":
            conn.sendall(lines + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return
        chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
        framed = b"".join(b"%x;golden=1\r\n%s\r\n" % (len(c), c) for c in chunks)
        if mode == "cut" and path.endswith("/pods"):
            conn.sendall(lines + b"Transfer-Encoding: chunked\r\n\r\n" + framed[:len(framed) // 2])
            return
        conn.sendall(lines + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\nX-Trailer: t\r\n\r\n")

    return answer


def test_chunked_lists_read_like_whole_ones(tmp_path: Path) -> None:
    from cliutil import run_cli, tcp_server

    kc = tmp_path / "empty.yaml"
    kc.write_text("apiVersion: v1\nkind: Config\n")
    bodies = _golden_lists()
    assert len(bodies["/api/v1/namespaces/golden/pods"]) > 20_000  # many chunks, not one
    outputs = {}
    for mode in ("length", "chunked"):
        seen: list[str] = []
        with tcp_server(_replayer(bodies, mode, seen)) as port:
            r = run_cli(["list", "-n", "golden", "-o", "json", "-s", f"http://127.0.0.1:{port}"],
                        kubeconfig=str(kc))
        assert r.exit_code == 0, r.stderr
        assert "/api/v1/namespaces/golden/pods" in seen
        items = json.loads(r.stdout)["items"]
        outputs[mode] = [{k: v for k, v in i.items() if k != "age"} for i in items]  # age follows the clock
    assert outputs["chunked"] == outputs["length"]
    assert {i["name"] for i in outputs["chunked"]} >= {"basic", "single", "subg"}
    with tcp_server(_replayer(bodies, "cut", [])) as port:
        r = run_cli(["list", "-n", "golden", "-s", f"http://127.0.0.1:{port}", "--request-timeout", "5s"],
                    kubeconfig=str(kc))
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
