"""Real reachability between simulated pods: per-pod netns, DNS names via /etc/hosts, dropped packets on
cut-network / cut-pair, and cleanup. Needs root + iproute2; skipped otherwise."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse

import aiohttp
import pytest

from kubectl_lws.sandbox.runtime.netns import Network, netns_available, NETNS_DIR, ETC_NETNS

OK, WHY = netns_available()
pytestmark = pytest.mark.skipif(not OK, reason=f"real pod networking needs root and iproute2: {WHY}")

LISTEN = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
          "s.bind(('0.0.0.0',7000));s.listen(16);s.settimeout(20);print('listening',flush=True)\n"
          "while True:\n  c,_=s.accept();c.sendall(b'hi');c.close()\n")
CONNECT = ("import socket,sys\ntry:\n  c=socket.create_connection((sys.argv[1],7000),timeout=1.0);print(c.recv(2).decode())\n"
           "except Exception as e:\n  print(type(e).__name__)\n")


def _netns_names(prefix: str) -> set[str]:
    found = set()
    for d in (NETNS_DIR, ETC_NETNS):
        if os.path.isdir(d):
            found |= {n for n in os.listdir(d) if n.startswith(prefix)}
    return found


@pytest.fixture(scope="module")
def nh(pod_factory, harness_class):
    h = harness_class(network="auto")
    assert h.network.real
    for name in ("basic-0", "basic-0-1", "basic-0-2"):
        h.add_pod(pod_factory(name))
    yield h
    prefix = f"kls-{h.network.sid}-"
    h.close()
    assert _netns_names(prefix) == set(), "netns left behind after stop"


def exec_out(h, pod: str, argv: list[str], timeout: float = 10) -> str:
    q = "&".join("command=" + urllib.parse.quote(a, safe="") for a in argv) + "&stdout=true&stderr=true"

    async def go() -> str:
        out = []
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"{h.url}/api/v1/namespaces/golden/pods/{pod}/exec?{q}",
                                    protocols=("v5.channel.k8s.io",)) as ws:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY and msg.data[0] in (1, 2):
                        out.append(msg.data[1:].decode())
        return "".join(out)
    return asyncio.run(asyncio.wait_for(go(), timeout))


@pytest.fixture(scope="module")
def listener(nh):
    """A TCP server on port 7000 inside basic-0's netns, started through exec; stopped by closing the socket."""
    ready, stop = threading.Event(), threading.Event()

    async def go() -> None:
        q = "command=python3&command=-c&command=" + urllib.parse.quote(LISTEN, safe="") + "&stdout=true"
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"{nh.url}/api/v1/namespaces/golden/pods/basic-0/exec?{q}",
                                    protocols=("v5.channel.k8s.io",)) as ws:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY and b"listening" in msg.data:
                        break
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.1)
    t = threading.Thread(target=lambda: asyncio.run(go()), daemon=True)
    t.start()
    assert ready.wait(10), "listener did not start"
    yield
    stop.set()
    t.join(5)


def connect(nh, src: str, target: str = "basic-0.basic.golden") -> str:
    return exec_out(nh, src, ["python3", "-c", CONNECT, target]).strip()


def test_pod_has_lo_eth0_and_own_ip(nh):
    out = exec_out(nh, "basic-0-1", ["python3", "-c", "import socket;print(sorted(n for _, n in socket.if_nameindex()))"])
    assert out.strip() == "['eth0', 'lo']"
    ip = nh.store.get("pods", "golden", "basic-0-1")["status"]["podIP"]
    assert ip in exec_out(nh, "basic-0-1", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
    resolv = exec_out(nh, "basic-0-1", ["cat", "/etc/resolv.conf"])
    assert "search golden.svc.cluster.local svc.cluster.local cluster.local" in resolv


def test_tcp_between_pods_by_dns_name(nh, listener):
    for name in ("basic-0.basic.golden", "basic-0.basic.golden.svc", "basic-0.basic.golden.svc.cluster.local"):
        assert connect(nh, "basic-0-1", name) == "hi"


def test_cut_network_drops_packets(nh, listener):
    nh.fault("cut-network", pod="basic-0", namespace="golden", on=True)
    try:
        assert connect(nh, "basic-0-1") == "TimeoutError"  # dropped, not refused
        assert connect(nh, "basic-0-2") == "TimeoutError"
    finally:
        nh.fault("cut-network", pod="basic-0", namespace="golden", on=False)
    assert connect(nh, "basic-0-1") == "hi"


def test_cut_pair_drops_only_that_pair(nh, listener):
    nh.fault("cut-pair", pod_a="golden/basic-0", pod_b="golden/basic-0-1", on=True)
    try:
        assert connect(nh, "basic-0-1") == "TimeoutError"
        assert connect(nh, "basic-0-2") == "hi"
    finally:
        nh.fault("cut-pair", pod_a="golden/basic-0", pod_b="golden/basic-0-1", on=False)
    assert connect(nh, "basic-0-1") == "hi"


def test_hosts_follow_pods(nh, pod_factory):
    nh.add_pod(pod_factory("late-0", subdomain="late"))
    nh.network._pool.submit(lambda: None).result(5)  # hosts rewrite is queued on the netns thread
    assert "late-0.late.golden" in exec_out(nh, "basic-0-2", ["cat", "/etc/hosts"])
    nh.delete_pod("golden", "late-0")
    nh.network._pool.submit(lambda: None).result(5)
    assert "late-0" not in exec_out(nh, "basic-0-2", ["cat", "/etc/hosts"])


def test_stale_leftovers_of_a_killed_run_are_removed():
    dead = subprocess.Popen(["true"])
    dead.wait()
    old = Network("auto")
    pod = {"metadata": {"uid": "stale-1", "name": "x", "namespace": "golden"}, "spec": {}}
    old.attach(pod)
    assert old.netns_of(pod)
    prefix = f"kls-{old.sid}-"
    assert _netns_names(prefix)
    with open(os.path.join(old.state_dir, "state.json"), "w") as f:  # as if its owner had been SIGKILLed
        json.dump({"pid": dead.pid, "prefix": prefix}, f)
    new = Network("auto")
    try:
        assert _netns_names(prefix) == set()
        assert not os.path.exists(old.state_dir)
    finally:
        new.close()
        old._closed = True
        old._pool.shutdown(wait=True)


def test_stale_leftovers_are_removed_even_when_the_pid_was_reused():
    old = Network("auto")
    pod = {"metadata": {"uid": "stale-2", "name": "y", "namespace": "golden"}, "spec": {}}
    old.attach(pod)
    name = old.netns_of(pod)
    prefix = f"kls-{old.sid}-"
    inside = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "300"])
    try:
        # The killed owner's pid now belongs to a live process (ours) that started at another time.
        with open(os.path.join(old.state_dir, "state.json"), "w") as f:
            json.dump({"pid": os.getpid(), "start": "1", "prefix": prefix}, f)
        new = Network("auto")
        try:
            assert _netns_names(prefix) == set()
            assert not os.path.exists(old.state_dir)
            assert inside.wait(5) == -signal.SIGKILL  # what ran inside the stale netns is gone too
        finally:
            new.close()
            old._closed = True
            old._pool.shutdown(wait=True)
    finally:
        if inside.poll() is None:
            inside.kill()
            inside.wait(5)


def test_ctrl_c_removes_everything(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, time\n"
        "from kubectl_lws.sandbox.runtime.netns import Network\n"
        "n = Network('auto')\n"
        "p = {'metadata': {'uid': 'c1', 'name': 'x', 'namespace': 'd'}, 'spec': {}}\n"
        "n.attach(p); n.netns_of(p)\n"
        "print(n.sid, flush=True)\n"
        "time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sid = proc.stdout.readline().strip()
        assert sid and _netns_names(f"kls-{sid}-")
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _netns_names(f"kls-{sid}-") == set()


def test_netns_cap_falls_back_to_plain_ips():
    n = Network("auto", max_netns=1)
    try:
        a = {"metadata": {"uid": "cap-a", "name": "a", "namespace": "d"}, "spec": {}}
        b = {"metadata": {"uid": "cap-b", "name": "b", "namespace": "d"}, "spec": {}}
        ip_a, ip_b = n.attach(a), n.attach(b)
        assert ip_a != ip_b
        assert n.netns_of(a) and n.netns_of(b) is None
        with pytest.raises(RuntimeError, match="netns cap"):
            n.cut_network(b)
    finally:
        n.close()
    assert _netns_names(f"kls-{n.sid}-") == set()
