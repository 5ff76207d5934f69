"""pods/exec over WebSocket against the runtime: frames compared with golden/exec/*.json."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest

import golden

GOLDEN = golden.GOLDEN / "exec"
ENV = [{"name": "LWS_LEADER_ADDRESS", "value": "basic-0.basic.golden"}, {"name": "LWS_GROUP_SIZE", "value": "4"},
       {"name": "LWS_WORKER_INDEX", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']"}}},
       {"name": "NCCL_DEBUG", "value": "INFO"}, {"name": "NCCL_SOCKET_IFNAME", "value": "eth0"},
       {"name": "NCCL_IB_DISABLE", "value": "1"}, {"name": "HF_TOKEN", "value": "hf_goldenFAKEtoken1234567890abcdef"}]


def golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


def server_frames(g: dict) -> list[tuple]:
    return [(f.get("opcode"), f.get("channel"), f.get("text"), f.get("close_code"))
            for f in g["frames"] if f.get("dir") == "server->client"]


@pytest.fixture(scope="module")
def h(harness, pod_factory):
    harness.add_pod(pod_factory("basic-0", env=ENV, labels={"leaderworkerset.sigs.k8s.io/worker-index": "0"}))
    harness.add_pod(pod_factory("basic-1-2", container="worker",
                                annotations={"sandbox.kubectl-lws.dev/binaries": "sh,cat,head,sleep"}))
    return harness


def exec_ws(h, pod: str, query: str, protocols: tuple[str, ...] = ("v5.channel.k8s.io",),
            send: list[bytes] = (), timeout: float = 10) -> tuple[str | None, list[tuple]]:
    """Open the exec WebSocket, send frames, collect (opcode, channel, text, close_code) until close."""
    async def go() -> tuple[str | None, list[tuple]]:
        frames: list[tuple] = []
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"{h.url}/api/v1/namespaces/golden/pods/{pod}/exec?{query}",
                                    protocols=protocols, autoclose=False) as ws:
                for data in send:
                    await ws.send_bytes(data)
                while True:
                    msg = await asyncio.wait_for(ws.receive(), timeout)
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        frames.append((2, msg.data[0], msg.data[1:].decode(), None))
                    elif msg.type == aiohttp.WSMsgType.CLOSE:
                        frames.append((8, None, None, msg.data))
                        await ws.close()
                        break
                    else:
                        break
                return ws.protocol, frames
    return asyncio.run(go())


def test_printenv_v5_matches_golden(h):
    g = golden("ws-exec-basic-0-printenv-v5.json")
    proto, frames = exec_ws(h, "basic-0", "command=printenv&container=leader&stderr=true&stdout=true")
    assert proto == "v5.channel.k8s.io"
    assert frames == server_frames(g)  # byte-identical env, order, status and close


def test_printenv_v4_status_without_metadata(h):
    g = golden("ws-exec-basic-0-printenv-v4-only.json")
    proto, frames = exec_ws(h, "basic-0", "command=printenv&container=leader&stderr=true&stdout=true",
                            protocols=("v4.channel.k8s.io",))
    assert proto == "v4.channel.k8s.io"
    assert frames == server_frames(g)


def test_offer_of_all_versions_picks_v5(h):
    g = golden("ws-exec-basic-0-printenv-var-offer-v5-v4-v3-v2.json")
    offer = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io", "v5.channel.k8s.io")
    proto, frames = exec_ws(h, "basic-0", "command=printenv&command=LWS_LEADER_ADDRESS&container=leader"
                            "&stderr=true&stdout=true", protocols=offer)
    assert proto == "v5.channel.k8s.io"
    assert frames == server_frames(g)


def test_nonzero_exit_is_a_real_kubelet_status(h):
    proto, frames = exec_ws(h, "basic-1-2", "command=sh&command=-c&command=echo%20out%3B%20echo%20err%20%3E%262%3B"
                                            "%20exit%203&container=worker&stderr=true&stdout=true")
    assert frames[0] == (2, 1, "", None)
    assert (2, 1, "out\n", None) in frames and (2, 2, "err\n", None) in frames
    status = json.loads(frames[-2][2])
    assert frames[-2][1] == 3
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
    assert frames[-1] == (8, None, None, 1000)


def test_command_not_found(h):
    _, frames = exec_ws(h, "basic-1-2", "command=no-such-command&container=worker&stderr=true&stdout=true")
    assert [f[:2] for f in frames] == [(2, 1), (2, 3), (8, None)]
    status = json.loads(frames[1][2])
    assert status["reason"] == "InternalError" and status["code"] == 500
    assert 'exec: "no-such-command": executable file not found in $PATH' in status["message"]


def test_image_binaries_restrict_path(h):
    # basic-1-2 only has sh, cat, head and sleep: python3 exists on the host but not "in the image"
    _, frames = exec_ws(h, "basic-1-2", "command=python3&command=-V&container=worker&stdout=true&stderr=true")
    assert 'exec: "python3": executable file not found' in json.loads(frames[1][2])["message"]
    _, frames = exec_ws(h, "basic-1-2", "command=sh&command=-c&command=echo%20%24PATH&container=worker&stdout=true")
    path = frames[1][2].strip()
    assert sorted(p.name for p in Path(path).iterdir()) == ["cat", "head", "sh", "sleep"]


def test_stdin_head_c16(h):
    g = golden("ws-exec-stdin-head-c16.json")
    _, frames = exec_ws(h, "basic-1-2", "command=head&command=-c&command=16&container=worker&stdin=true"
                                        "&stderr=true&stdout=true",
                        send=[b"\x00hello from stdin", b"\xff\x00"])
    assert frames == server_frames(g)


def test_stdin_close_signal_delivers_eof(h):
    # kwok never ended `cat` (golden ws-exec-stdin-cat-v5-close-signal.json); a kubelet delivers EOF
    _, frames = exec_ws(h, "basic-1-2", "command=cat&container=worker&stdin=true&stderr=true&stdout=true",
                        send=[b"\x00hello from stdin", b"\xff\x00"], timeout=5)
    out = "".join(f[2] for f in frames if f[1] == 1)
    assert out == "hello from stdin"
    assert frames[-2] == (2, 3, '{"metadata":{},"status":"Success"}', None)


def test_client_disconnect_kills_the_process(h):
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"{h.url}/api/v1/namespaces/golden/pods/basic-1-2/exec?command=sh&command=-c"
                                    f"&command=sleep%2030&container=worker&stdout=true",
                                    protocols=("v5.channel.k8s.io",))
            await ws.receive()  # the empty stdout frame: the process is running
            await asyncio.sleep(0.2)
            assert len(h.runtime._procs) == 1
            await ws.close()
        for _ in range(50):
            if not h.runtime._procs:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("exec process still tracked after the client closed")
    asyncio.run(go())


def test_kubernetes_client_stream(h):
    from kubernetes import client
    from kubernetes.stream import stream
    cfg = client.Configuration()
    cfg.host = h.url
    api = client.CoreV1Api(client.ApiClient(cfg))
    out = stream(api.connect_get_namespaced_pod_exec, "basic-0", "golden", container="leader",
                 command=["printenv", "HF_TOKEN"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "hf_goldenFAKEtoken1234567890abcdef\n"
    resp = stream(api.connect_get_namespaced_pod_exec, "basic-1-2", "golden", container="worker",
                  command=["sh", "-c", "exit 4"], stderr=True, stdin=False, stdout=True, tty=False,
                  _preload_content=False)
    resp.run_forever(timeout=10)
    assert resp.returncode == 4


def test_tty_exec_with_resize(h):
    # kubectl exec -it: one merged stream on channel 1, window size on channel 4, a controlling terminal
    _, frames = exec_ws(h, "basic-0", "command=sh&container=leader&stdin=true&stdout=true&tty=true",
                        send=[b'\x04{"Width":100,"Height":30}', b"\x00stty size; tty -s && echo is-a-tty; exit 0\n"])
    out = "".join(f[2] for f in frames if f[1] == 1)
    assert "30 100" in out and "is-a-tty" in out
    assert not [f for f in frames if f[1] == 2]
    assert frames[-2] == (2, 3, '{"metadata":{},"status":"Success"}', None)


def test_exec_timeout_kills_and_reports(h):
    h.runtime.exec_timeout = 0.5
    try:
        _, frames = exec_ws(h, "basic-1-2", "command=sleep&command=5&container=worker&stdout=true")
    finally:
        h.runtime.exec_timeout = 300.0
    status = json.loads(frames[-2][2])
    assert status["status"] == "Failure" and "timeout after 0.5s" in status["message"]
    assert not h.runtime._procs
