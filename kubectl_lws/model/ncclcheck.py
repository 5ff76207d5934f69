"""NCCL-related checks: /dev/shm, interface selection, per-group consistency, probe results.

Pure functions. Interface matching follows NCCL's own ``NCCL_SOCKET_IFNAME`` syntax (a leading ``^``
excludes, a leading ``=`` asks for exact names, entries are comma-separated prefixes, an optional
``:port`` suffix is ignored for interfaces) so "does the configured interface exist" gets the answer
NCCL itself would reach.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from kubectl_lws.model.envcheck import FAIL, INFO, PASS, WARN, Finding, pod_containers, spec_env
from kubectl_lws.model.groups import Group, pod_name

GPU_RESOURCE_SUFFIX = "/gpu"
SHM_MIN_BYTES = 1 << 30
# NCCL's defaults when NCCL_SOCKET_IFNAME is unset: InfiniBand (IPoIB) first, then anything but these.
NCCL_DEFAULT_FIRST = "ib"
NCCL_DEFAULT_THEN = "^docker,lo,virbr"


# ---- quantities ---------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "m": 1e-3,
           "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}


def parse_quantity(text: Any) -> float | None:
    """A Kubernetes resource quantity (``1Gi``, ``500M``, ``2``, ``100m``) as a number, or None."""
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIX:
        return None
    try:
        return float(match.group(1)) * _SUFFIX[match.group(2)]
    except ValueError:
        return None


def is_gpu_resource(name: str) -> bool:
    return name.endswith(GPU_RESOURCE_SUFFIX)


def is_rdma_resource(name: str) -> bool:
    lowered = name.lower()
    return "rdma" in lowered or "infiniband" in lowered


def container_resources(container: dict, match: Any) -> dict[str, str]:
    """Requested (or, when absent, limited) amounts of resources whose name passes ``match``."""
    res = container.get("resources") or {}
    out: dict[str, str] = {}
    for section in ("limits", "requests"):
        for name, value in (res.get(section) or {}).items():
            if match(name) and parse_quantity(value) not in (None, 0):
                out[name] = str(value)
    return out


# ---- NCCL_SOCKET_IFNAME ----------------------------------------------------------------------------

@dataclass(frozen=True)
class IfnameSpec:
    exclude: bool
    exact: bool
    prefixes: tuple[str, ...]

    def matches(self, name: str) -> bool:
        hit = any((name == p) if self.exact else name.startswith(p) for p in self.prefixes)
        return not hit if self.exclude else hit


def parse_ifname_spec(text: str) -> IfnameSpec:
    """``^`` (exclude) then ``=`` (exact), then comma-separated ``prefix[:port]`` entries."""
    text = text.strip()
    exclude = text.startswith("^")
    if exclude:
        text = text[1:]
    exact = text.startswith("=")
    if exact:
        text = text[1:]
    prefixes = tuple(p.split(":", 1)[0].strip() for p in text.split(",") if p.split(":", 1)[0].strip())
    return IfnameSpec(exclude, exact, prefixes)


def select_interfaces(spec_text: str | None, interfaces: list[dict]) -> list[dict]:
    """The interfaces NCCL would use, in the order the system lists them.

    Only interfaces with an address count (NCCL walks getifaddrs). Unset means NCCL's default:
    ``ib*`` when any exists, else everything but docker/lo/virbr.
    """
    usable = [i for i in interfaces if i.get("addrs")]
    if spec_text:
        spec = parse_ifname_spec(spec_text)
        return [i for i in usable if spec.matches(i.get("name", ""))]
    first = [i for i in usable if i.get("name", "").startswith(NCCL_DEFAULT_FIRST)]
    if first:
        return first
    spec = parse_ifname_spec(NCCL_DEFAULT_THEN)
    return [i for i in usable if spec.matches(i.get("name", ""))]


# ---- static checks ------------------------------------------------------------------------------

def _volumes(pod: dict) -> dict[str, dict]:
    return {v.get("name", ""): v for v in (pod.get("spec") or {}).get("volumes") or []}


def check_shm(group: Group) -> list[Finding]:
    """Every GPU container needs a memory-backed emptyDir at /dev/shm (NCCL's shared-memory transport)."""
    out: list[Finding] = []
    gi = group.index
    for pod in group.pods:
        volumes = _volumes(pod)
        for kind, c in pod_containers(pod):
            gpus = container_resources(c, is_gpu_resource)
            if not gpus:
                continue
            cname = c.get("name", "")
            mount = next((m for m in c.get("volumeMounts") or [] if m.get("mountPath", "").rstrip("/") == "/dev/shm"),
                         None)
            if mount is None:
                out.append(Finding(gi, "shm", WARN, "no volume mounted at /dev/shm in a GPU container: the "
                                   "runtime default (often 64Mi) makes NCCL fail or fall back",
                                   pod=pod_name(pod), container=cname, expected="emptyDir{medium: Memory}",
                                   actual="<none>"))
                continue
            vol = volumes.get(mount.get("name", ""), {})
            empty = vol.get("emptyDir")
            if empty is None:
                kinds = [k for k in vol if k != "name"]
                out.append(Finding(gi, "shm", WARN, "/dev/shm is not an emptyDir", pod=pod_name(pod),
                                   container=cname, expected="emptyDir{medium: Memory}",
                                   actual=kinds[0] if kinds else "<unknown volume>"))
                continue
            if (empty or {}).get("medium") != "Memory":
                out.append(Finding(gi, "shm", WARN, "/dev/shm emptyDir is disk-backed (set medium: Memory)",
                                   pod=pod_name(pod), container=cname, expected="Memory",
                                   actual=(empty or {}).get("medium") or "<default: disk>"))
                continue
            limit = (empty or {}).get("sizeLimit")
            size = parse_quantity(limit) if limit is not None else None
            if size is not None and size < SHM_MIN_BYTES:
                out.append(Finding(gi, "shm", WARN, "/dev/shm sizeLimit is below 1Gi", pod=pod_name(pod),
                                   container=cname, expected=">= 1Gi", actual=str(limit)))
                continue
            out.append(Finding(gi, "shm", PASS, "memory-backed /dev/shm" + (f" ({limit})" if limit else ""),
                               pod=pod_name(pod), container=cname))
    if not out:
        out.append(Finding(gi, "shm", INFO, "not checked: no container requests a GPU"))
    return out


def _pod_ifname(pod: dict) -> str:
    values = {spec_env(c).get("NCCL_SOCKET_IFNAME") for _, c in pod_containers(pod, init=False)}
    texts = sorted({v.canonical for v in values if v is not None})
    return " | ".join(texts) if texts else "<unset>"


def _pod_resources(pod: dict, match: Any) -> str:
    total: dict[str, float] = {}
    for _, c in pod_containers(pod, init=False):
        for name, value in container_resources(c, match).items():
            total[name] = total.get(name, 0) + (parse_quantity(value) or 0)
    return ", ".join(f"{n}={v:g}" for n, v in sorted(total.items())) or "none"


def _consistent(group: Group, check: str, what: str, values: dict[str, str], status: str) -> list[Finding]:
    by_value: dict[str, list[str]] = {}
    for pod, value in values.items():
        by_value.setdefault(value, []).append(pod)
    if len(by_value) <= 1:
        value = next(iter(by_value), "")
        return [Finding(group.index, check, PASS, f"{what} identical on all pods: {value}")]
    majority = max(by_value.items(), key=lambda kv: len(kv[1]))[0]
    odd = [p for v, pods in by_value.items() if v != majority for p in pods]
    detail = "; ".join(f"{', '.join(pods)}: {v}" for v, pods in by_value.items() if v != majority)
    return [Finding(group.index, check, status, f"{what} differs across the group ({detail})",
                    pod=", ".join(odd), expected=majority,
                    actual=", ".join(v for v in by_value if v != majority))]


def check_group_static(group: Group) -> list[Finding]:
    """/dev/shm, then NCCL_SOCKET_IFNAME, hostNetwork, GPU and RDMA requests across the group."""
    if not group.pods:
        return [Finding(group.index, "pods", FAIL, "the group has no pods")]
    out = check_shm(group)
    names = [pod_name(p) for p in group.pods]
    out += _consistent(group, "ifname", "NCCL_SOCKET_IFNAME",
                       {n: _pod_ifname(p) for n, p in zip(names, group.pods)}, FAIL)
    out += _consistent(group, "hostNetwork", "hostNetwork",
                       {n: str(bool((p.get("spec") or {}).get("hostNetwork"))).lower()
                        for n, p in zip(names, group.pods)}, FAIL)
    out += _consistent(group, "gpus", "GPU requests",
                       {n: _pod_resources(p, is_gpu_resource) for n, p in zip(names, group.pods)}, WARN)
    out += _consistent(group, "rdma", "RDMA requests",
                       {n: _pod_resources(p, is_rdma_resource) for n, p in zip(names, group.pods)}, WARN)
    return out


# ---- probe results -------------------------------------------------------------------------------

def parse_probe_output(text: str) -> list[dict]:
    """The JSON records a probe printed (one per line); anything else on stdout is ignored."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


def records(items: Iterable[dict], kind: str) -> list[dict]:
    return [r for r in items if r.get("t") == kind]


def first(items: Iterable[dict], kind: str) -> dict | None:
    found = records(items, kind)
    return found[0] if found else None


def check_info(group_index: int, pod: dict, info: dict | None, leader_ip: str | list[str] | None) -> list[Finding]:
    """DNS of LWS_LEADER_ADDRESS and the NCCL interface, from one pod's info record.

    ``leader_ip``: the leader pod's IP(s) from the API (dual-stack pods have two); any one must resolve.
    """
    name = pod_name(pod)
    leader_ips = [leader_ip] if isinstance(leader_ip, str) else list(leader_ip or [])
    leader_ip = ", ".join(leader_ips) or None
    if info is None:
        return [Finding(group_index, "probe", FAIL, "the probe printed no result", pod=name)]
    out: list[Finding] = []
    dns = info.get("dns") or {}
    target = dns.get("name") or "<no LWS_LEADER_ADDRESS>"
    if dns.get("error"):
        out.append(Finding(group_index, "dns", FAIL, f"cannot resolve {target}: {dns['error']}", pod=name,
                           variable="LWS_LEADER_ADDRESS", expected=leader_ip or "an address",
                           actual=dns["error"]))
    else:
        addrs = dns.get("addrs") or []
        if leader_ips and not set(leader_ips) & set(addrs):
            out.append(Finding(group_index, "dns", FAIL, f"{target} resolves to {', '.join(addrs)}, not to the "
                               f"leader pod's IP", pod=name, expected=leader_ip, actual=", ".join(addrs)))
        else:
            ms = dns.get("ms")
            out.append(Finding(group_index, "dns", PASS, f"{target} -> {', '.join(addrs)}"
                               + (f" ({ms:.0f}ms)" if isinstance(ms, (int, float)) else ""),
                               pod=name, expected=leader_ip, actual=", ".join(addrs)))
    ifaces = info.get("ifaces")
    spec_text = (info.get("env") or {}).get("NCCL_SOCKET_IFNAME")
    if ifaces is None:
        out.append(Finding(group_index, "interface", WARN, "interfaces could not be listed", pod=name))
        return out
    have = ", ".join(f"{i.get('name')}" + (f"={','.join(i['addrs'])}" if i.get("addrs") else "") for i in ifaces)
    if not any(i.get("addrs") is not None for i in ifaces):
        # The bash fallback knows names but not addresses: match names only.
        chosen = [i for i in ifaces if not spec_text or parse_ifname_spec(spec_text).matches(i.get("name", ""))]
        chosen = chosen if spec_text else select_interfaces(None, [{**i, "addrs": ["?"]} for i in ifaces])
    else:
        chosen = select_interfaces(spec_text, ifaces)
    label = f"NCCL_SOCKET_IFNAME={spec_text}" if spec_text else "NCCL_SOCKET_IFNAME unset (NCCL default)"
    if not chosen:
        out.append(Finding(group_index, "interface", FAIL, f"{label} matches no interface with an address "
                           f"(have: {have})", pod=name, variable="NCCL_SOCKET_IFNAME",
                           expected=spec_text or NCCL_DEFAULT_THEN, actual=have))
    else:
        use = chosen[0]
        addr = (use.get("addrs") or ["?"])[0]
        out.append(Finding(group_index, "interface", PASS, f"{label} -> {use.get('name')} {addr}", pod=name,
                           variable="NCCL_SOCKET_IFNAME", expected=spec_text, actual=f"{use.get('name')} {addr}"))
    return out


def connect_finding(group_index: int, pod: str, record: dict, check: str = "connect") -> Finding:
    target = record.get("label") or record.get("host")
    where = f"{record.get('host')}:{record.get('port')}"
    if record.get("addr") and record.get("addr") != record.get("host"):
        where += f" ({record['addr']})"
    if record.get("result") == "ok":
        ms = record.get("ms")
        return Finding(group_index, check, PASS, f"{pod} -> {target} {where} ok"
                       + (f" {ms:.1f}ms" if isinstance(ms, (int, float)) else ""), pod=pod,
                       expected="ok", actual="ok")
    error = record.get("result") or "error"
    detail = f": {record['error']}" if record.get("error") and record.get("error") != error else ""
    return Finding(group_index, check, FAIL, f"{pod} -> {target} {where} {error}{detail}", pod=pod,
                   expected="ok", actual=error)
