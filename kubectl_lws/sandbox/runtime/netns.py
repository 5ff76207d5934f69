"""Pod IPs and, when possible, one real Linux network namespace per pod.

Layout (only when running as root with ``ip`` available and ``network`` is "auto"/"on"):

* a private "bridge" netns ``kls-<sid>-br`` holding bridge ``br0`` — the host's root namespace is never
  touched (no interface, route or address is added there);
* per pod a netns ``kls-<sid>-p<N>`` with ``lo`` and ``eth0`` (a veth whose peer ``v<N>`` is a port of
  ``br0``), an address from 10.244.0.0/16 (only ever used inside these namespaces);
* ``/etc/netns/<netns>/hosts`` and ``resolv.conf`` — ``ip netns exec`` bind-mounts them over /etc — as
  symlinks to one shared hosts file (all pods' DNS names) and a per-namespace resolv.conf.

Netns work runs on one background thread, so the asyncio loop never blocks on ``ip``. A pod's netns is
created on first use (exec into it, or a network fault on it; ``eager=True``: at attach), about 10 ms each.
Above ``max_netns`` namespaces, further pods run in the host namespace with an IP that is not configured.

Network faults drop packets (connections time out, never "refused"): this host has no nft/iptables and
no tc qdiscs, so a cut routes the affected destinations, inside the pod's own netns, via a gateway whose
neighbour entry is a permanent MAC that no interface owns; the bridge floods those frames and every port
discards them. Removing the routes restores traffic.

Cleanup: every netns, /etc/netns dir and the state dir are removed on stop (and atexit); a state file
records the owner pid so a later start removes leftovers of a killed run.
"""
from __future__ import annotations

import atexit
import concurrent.futures as cf
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

PREFIX = "kls-"
SUBNET = ipaddress.ip_network("10.244.0.0/16")
DEAD_GW = "10.244.255.254"
DEAD_MAC = "02:00:00:de:ad:01"
STATE_ROOT = "/run/kubectl-lws-sandbox"
NETNS_DIR = "/var/run/netns"
ETC_NETNS = "/etc/netns"
CLUSTER_DOMAIN = "cluster.local"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (also someone else's, which gives EPERM)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22): with the pid it
    names one process for good, so a reused pid is not mistaken for a sandbox that is still running."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _state_owner_alive(state: dict) -> bool:
    pid = int(state.get("pid", 0))
    if not pid_alive(pid):
        return False
    return state.get("start") is None or start_time(pid) in (None, state["start"])


def netns_available() -> tuple[bool, str]:
    """Whether real namespaces can be made here, and why not."""
    if os.geteuid() != 0:
        return False, "not running as root"
    if not shutil.which("ip"):
        return False, "the ip command (iproute2) is missing"
    return True, ""


def dns_names(pod: dict) -> list[str]:
    """The names a pod answers to: ``<host>.<subdomain>.<ns>`` plus ``.svc`` and ``.svc.cluster.local``
    forms (and ``<host>.<subdomain>``, since /etc/hosts ignores resolv.conf search domains)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    host = spec.get("hostname") or meta.get("name", "")
    sub, ns = spec.get("subdomain"), meta.get("namespace", "default")
    if not sub:
        return []
    base = f"{host}.{sub}.{ns}"
    return [f"{base}.svc.{CLUSTER_DOMAIN}", f"{base}.svc", base, f"{host}.{sub}"]


class Network:
    """IP allocation + optional per-pod netns. Public calls are made on the sandbox loop thread."""

    def __init__(self, mode: str = "auto", *, max_netns: int = 256, sandbox_id: str | None = None,
                 eager: bool = False):
        ok, why = netns_available()
        if mode == "on" and not ok:
            raise RuntimeError(f"network=on but netns are unavailable: {why}")
        self.real = ok and mode in ("auto", "on")
        self.why_not_real = "" if self.real else (why or f"network mode {mode!r}")
        self.max_netns = max_netns
        self.eager = eager
        self.sid = sandbox_id or secrets.token_hex(3)
        self.bridge_ns = f"{PREFIX}{self.sid}-br"
        self.state_dir = os.path.join(STATE_ROOT, self.sid)
        self._ips: dict[str, str] = {}            # pod uid -> IP
        self._pods: dict[str, dict] = {}          # pod uid -> pod (for hosts entries)
        self._netns: dict[str, str] = {}          # pod uid -> netns name
        self._ready: dict[str, cf.Future] = {}    # pod uid -> creation future
        self._cuts: set[tuple[str, ...]] = set()
        self._next = 2
        self._free: list[int] = []
        self._seq = 0
        self._lock = threading.RLock()
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kls-net-{self.sid}")
        self._bridge_ready = False
        self._hosts_dirty = False
        self._closed = False
        if self.real:
            clean_stale()
            os.makedirs(self.state_dir, exist_ok=True)
            with open(os.path.join(self.state_dir, "state.json"), "w") as f:
                json.dump({"pid": os.getpid(), "start": start_time(os.getpid()), "prefix": f"{PREFIX}{self.sid}-"}, f)
            self._write_hosts()
            atexit.register(self.close)

    # -- allocation ---------------------------------------------------------------------------------------
    def _alloc(self) -> str:
        if self._free:
            n = self._free.pop()
        else:
            n = self._next
            self._next += 1
        addr = str(SUBNET.network_address + n)
        if addr == DEAD_GW:
            return self._alloc()
        return addr

    def attach(self, pod: dict) -> str:
        """Give the pod an IP (idempotent per uid). Its netns is made on first use (exec, fault), or now
        when ``eager``: thousands of pods that nobody execs into then cost nothing."""
        uid = _uid(pod)
        with self._lock:
            if uid in self._ips:
                return self._ips[uid]
            ip = self._alloc()
            self._ips[uid] = ip
            self._pods[uid] = pod
        self._mark_hosts()
        if self.eager:
            self._queue_netns(uid)
        return ip

    def detach(self, pod: dict) -> None:
        uid = _uid(pod)
        with self._lock:
            ip = self._ips.pop(uid, None)
            self._pods.pop(uid, None)
            if ip is not None:
                self._free.append(int(ipaddress.ip_address(ip)) - int(SUBNET.network_address))
            name = self._netns.pop(uid, None)
            self._ready.pop(uid, None)
            self._cuts = {c for c in self._cuts if uid not in c}
        if name and not self._closed:
            self._pool.submit(self._delete, name)
        self._mark_hosts()

    def ip_of(self, pod: dict) -> str | None:
        return self._ips.get(_uid(pod))

    def _queue_netns(self, uid: str) -> cf.Future | None:
        """The creation future of the pod's netns, queued now if needed; None when the pod gets none."""
        with self._lock:
            fut = self._ready.get(uid)
            if fut is not None:
                return fut
            if not self.real or self._closed or uid not in self._ips or len(self._netns) >= self.max_netns:
                return None
            self._seq += 1
            name = f"{PREFIX}{self.sid}-p{self._seq}"
            self._netns[uid] = name
            fut = self._pool.submit(self._create, name, self._ips[uid], _ns(self._pods[uid]), self._seq)
            self._ready[uid] = fut
            return fut

    def netns_of(self, pod: dict, wait: float = 30.0) -> str | None:
        """The pod's netns name, created on first use (blocks up to ``wait`` s); None without one
        (network not real, pod not attached, or above the ``max_netns`` cap). Callable from any thread."""
        uid = _uid(pod)
        fut = self._queue_netns(uid)
        if fut is None:
            return None
        fut.result(timeout=wait)
        return self._netns.get(uid)

    def exec_prefix(self, netns: str | None) -> list[str]:
        """argv prefix that runs a command inside ``netns`` with its /etc/hosts and resolv.conf."""
        return [shutil.which("ip") or "ip", "netns", "exec", netns] if netns else []

    # -- hosts / resolv --------------------------------------------------------------------------------
    def _mark_hosts(self) -> None:
        if self.real and not self._hosts_dirty and not self._closed:
            self._hosts_dirty = True
            self._pool.submit(self._write_hosts)

    def _write_hosts(self) -> None:
        with self._lock:
            self._hosts_dirty = False
            entries = [(self._ips[u], dns_names(p)) for u, p in list(self._pods.items()) if u in self._ips]
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += [f"{ip}\t{' '.join(names)}" for ip, names in entries if names]
        tmp = os.path.join(self.state_dir, "hosts.tmp")
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, os.path.join(self.state_dir, "hosts"))

    def _resolv(self, namespace: str) -> str:
        path = os.path.join(self.state_dir, f"resolv-{namespace}.conf")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(f"search {namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n"
                        "nameserver 127.0.0.1\noptions ndots:5 timeout:1 attempts:1\n")
        return path

    # -- netns plumbing (background thread) -------------------------------------------------------------
    def _ensure_bridge(self) -> None:
        if self._bridge_ready:
            return
        _ip("netns", "add", self.bridge_ns)
        _batch(self.bridge_ns, ["link set lo up", "link add br0 type bridge", "link set br0 up"])
        self._bridge_ready = True

    def _create(self, name: str, ip: str, namespace: str, seq: int) -> None:
        self._ensure_bridge()
        etc = os.path.join(ETC_NETNS, name)
        os.makedirs(etc, exist_ok=True)
        for fname, target in (("hosts", os.path.join(self.state_dir, "hosts")),
                              ("resolv.conf", self._resolv(namespace))):
            link = os.path.join(etc, fname)
            if not os.path.lexists(link):
                os.symlink(target, link)
        _ip("netns", "add", name)
        _ip("-n", self.bridge_ns, "link", "add", f"v{seq}", "type", "veth", "peer", "name", "eth0", "netns", name)
        _batch(self.bridge_ns, [f"link set v{seq} master br0", f"link set v{seq} up"])
        _batch(name, ["link set lo up", f"addr add {ip}/{SUBNET.prefixlen} dev eth0", "link set eth0 up",
                      f"neigh replace {DEAD_GW} lladdr {DEAD_MAC} dev eth0 nud permanent"])

    def _delete(self, name: str) -> None:
        _delete_netns(name)

    # -- faults ---------------------------------------------------------------------------------------
    def _require(self, pod: dict) -> str:
        if not self.real:
            raise RuntimeError(f"network faults need real network namespaces ({self.why_not_real})")
        name = self.netns_of(pod)
        if not name:
            raise RuntimeError(f"pod {_ns(pod)}/{(pod.get('metadata') or {}).get('name')} has no network namespace "
                               f"(not attached, or above the {self.max_netns}-pod netns cap)")
        return name

    def cut_network(self, pod: dict, on: bool = True) -> None:
        """Drop every packet the pod sends to the pod network (its peers' connections time out too,
        since its replies vanish)."""
        name = self._require(pod)
        half = SUBNET.prefixlen + 1
        nets = list(SUBNET.subnets(new_prefix=half))
        verb = "replace" if on else "del"
        cmds = [f"route {verb} {n} via {DEAD_GW} dev eth0 onlink" if on else f"route del {n}" for n in nets]
        _batch(name, cmds, check=on)
        key = (_uid(pod),)
        (self._cuts.add if on else self._cuts.discard)(key)

    def cut_pair(self, pod_a: dict, pod_b: dict, on: bool = True) -> None:
        """Drop packets between two pods only, both directions."""
        na, nb = self._require(pod_a), self._require(pod_b)
        ipa, ipb = self.ip_of(pod_a), self.ip_of(pod_b)
        for name, other in ((na, ipb), (nb, ipa)):
            cmd = f"route replace {other}/32 via {DEAD_GW} dev eth0 onlink" if on else f"route del {other}/32"
            _batch(name, [cmd], check=on)
        key = tuple(sorted((_uid(pod_a), _uid(pod_b))))
        (self._cuts.add if on else self._cuts.discard)(key)

    # -- shutdown -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Remove every namespace, veth (they die with their netns), /etc/netns dir and state file."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.real:
            _clean_prefix(f"{PREFIX}{self.sid}-")
            shutil.rmtree(self.state_dir, ignore_errors=True)
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001 - interpreter shutting down
            pass


def _uid(pod: dict) -> str:
    meta = pod.get("metadata") or {}
    return meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"


def _ns(pod: dict) -> str:
    return (pod.get("metadata") or {}).get("namespace") or "default"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([shutil.which("ip") or "ip", *args], capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def _batch(netns: str, cmds: list[str], check: bool = True) -> None:
    """Several ip commands in one process inside ``netns`` (``-force`` keeps going on errors when not checking)."""
    args = ["-n", netns, "-batch", "-"] if check else ["-n", netns, "-force", "-batch", "-"]
    r = subprocess.run([shutil.which("ip") or "ip", *args], input="\n".join(cmds) + "\n",
                       capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip -n {netns}: {r.stderr.strip()}")


def _delete_netns(name: str) -> None:
    """Kill what still runs inside, then delete the netns (its veth goes with it) and its /etc/netns dir."""
    r = _ip("netns", "pids", name, check=False)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "del", name, check=False)
    shutil.rmtree(os.path.join(ETC_NETNS, name), ignore_errors=True)


def _clean_prefix(prefix: str) -> None:
    """Delete our namespaces in one ``ip -batch`` (hundreds of pods: one process, not two per pod)."""
    names = set()
    for d in (NETNS_DIR, ETC_NETNS):
        try:
            names |= {n for n in os.listdir(d) if n.startswith(prefix)}
        except FileNotFoundError:
            pass
    ordered = sorted(names, key=lambda n: n.endswith("-br"))  # pods first, the bridge netns last
    _kill_inside(ordered)  # a process left inside would keep its netns (and veth) alive after `netns del`
    if ordered:
        subprocess.run([shutil.which("ip") or "ip", "-force", "-batch", "-"],
                       input="".join(f"netns del {n}\n" for n in ordered if os.path.exists(os.path.join(NETNS_DIR, n))),
                       capture_output=True, text=True, timeout=120)
    for n in ordered:
        shutil.rmtree(os.path.join(ETC_NETNS, n), ignore_errors=True)


def _kill_inside(names: list[str]) -> None:
    """SIGKILL every process living in one of these netns (one pass over /proc, not one `ip` per netns)."""
    inodes = set()
    for n in names:
        try:
            st = os.stat(os.path.join(NETNS_DIR, n))
            inodes.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    if not inodes:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
            if (st.st_dev, st.st_ino) in inodes:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _owner_alive(sid: str) -> bool:
    try:
        with open(os.path.join(STATE_ROOT, sid, "state.json")) as f:
            return _state_owner_alive(json.load(f))
    except (OSError, ValueError):
        return False


def clean_stale() -> list[str]:
    """Remove leftovers of sandboxes whose owner process is dead (or whose state file is gone)."""
    live: set[str] = set()
    removed: list[str] = []
    try:
        sids = os.listdir(STATE_ROOT)
    except FileNotFoundError:
        sids = []
    for sid in sids:
        try:
            with open(os.path.join(STATE_ROOT, sid, "state.json")) as f:
                state: dict[str, Any] = json.load(f)
            if _state_owner_alive(state):
                live.add(sid)
                continue
        except FileNotFoundError:
            # a sandbox starting right now has made its dir but not yet written its state file
            try:
                if time.time() - os.stat(os.path.join(STATE_ROOT, sid)).st_mtime < 60:
                    live.add(sid)
                    continue
            except OSError:
                pass
        except (OSError, ValueError):
            pass
        shutil.rmtree(os.path.join(STATE_ROOT, sid), ignore_errors=True)
    seen = set()
    for d in (NETNS_DIR, ETC_NETNS):
        try:
            seen |= {n for n in os.listdir(d) if n.startswith(PREFIX)}
        except FileNotFoundError:
            pass
    for n in sorted(seen, key=lambda n: n.endswith("-br")):
        sid = n[len(PREFIX):].split("-", 1)[0]
        if sid not in live and not _owner_alive(sid):  # re-check: a sandbox may have started meanwhile
            _delete_netns(n)
            removed.append(n)
    return removed
