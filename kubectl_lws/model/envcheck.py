"""Checks of the environment LWS injects into each group's pods (reference §5, §6, golden B.3).

Pure functions over pod dicts. A multi-node job that cannot find its peers usually has a wrong
leader address, a stale group size or index, pods from two revisions in one group, or a
distributed-runtime variable (NCCL_*, MASTER_*, ...) that differs between leader and workers; each
of those becomes a ``Finding`` with the pod, container, expected and actual value, so the report
says exactly what is wrong and where.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from kubectl_lws.model import keys
from kubectl_lws.model.groups import Group, LwsView, labels, pod_name, worker_index

PASS, INFO, WARN, FAIL = "PASS", "INFO", "WARN", "FAIL"
SEVERITY = {PASS: 0, INFO: 0, WARN: 1, FAIL: 2}

RUNTIME_PREFIXES = ("NCCL_", "GLOO_", "UCX_", "MASTER_", "VLLM_", "RAY_", "TORCH_", "SGLANG_")
# The distributed-runtime variables that must be the same on every pod of a group for its collectives to
# form at all (from the NCCL, Gloo, torch.distributed, UCX, NVSHMEM, vLLM and Ray docs and sources): a
# difference is a FAIL. Any other runtime variable may legitimately differ per rank (a kernel choice under
# DP attention, a local thread count, a debug level): a difference is a WARN naming the pods and values.
MUST_AGREE: dict[str, str] = {
    "MASTER_ADDR": "torch.distributed's rendezvous host: every rank must meet at the same store",
    "MASTER_PORT": "torch.distributed's rendezvous port: every rank must meet at the same store",
    "NCCL_SOCKET_IFNAME": "the interface NCCL bootstraps and sends over: ranks on different networks never connect",
    "GLOO_SOCKET_IFNAME": "the interface Gloo (torch CPU collectives, vLLM's DP coordination) connects over",
    "TP_SOCKET_IFNAME": "the interface TensorPipe (torch RPC) connects over",
    "NCCL_IB_DISABLE": "InfiniBand on some ranks and sockets on others: NCCL's network transports do not match",
    "NCCL_NET": "the network module NCCL is forced to (IB or Socket): every rank must use the same",
    "NCCL_NET_PLUGIN": "the network plugin NCCL loads: every rank must use the same transport",
    "UCX_TLS": "UCX's transports: ranks with none in common cannot connect",
    "NVSHMEM_REMOTE_TRANSPORT": "NVSHMEM's (DeepEP's) inter-node transport: every PE must use the same",
    "VLLM_ALL2ALL_BACKEND": "vLLM's expert-parallel all-to-all: every EP rank must run the same kernels",
    "VLLM_DP_MASTER_IP": "vLLM's data-parallel rendezvous host",
    "VLLM_DP_MASTER_PORT": "vLLM's data-parallel rendezvous port",
    "VLLM_DP_SIZE": "vLLM's data-parallel world size",
    "RAY_ADDRESS": "the Ray cluster every node joins",
}
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH")
MASK = "***"
TPU_RESOURCE = "google.com/tpu"
TPU_PROCESS_DEFAULT_PORT = 8476
TPU_VARS = ("TPU_WORKER_HOSTNAMES", "TPU_WORKER_ID", "TPU_NAME", "TPU_PROCESS_ADDRESSES", "TPU_PROCESS_PORT")


@dataclass
class Finding:
    """One check result; ``secret`` hides expected/actual unless the user asks for values."""

    group: int | None
    check: str
    status: str
    message: str
    pod: str = ""
    container: str = ""
    variable: str = ""
    expected: str | None = None
    actual: str | None = None
    secret: bool = False

    def to_dict(self, show_values: bool = False) -> dict[str, Any]:
        hide = self.secret and not show_values
        out: dict[str, Any] = {"group": self.group, "check": self.check, "status": self.status,
                               "message": self.message}
        for key, value in (("pod", self.pod), ("container", self.container), ("variable", self.variable)):
            if value:
                out[key] = value
        if self.expected is not None:
            out["expected"] = MASK if hide else self.expected
        if self.actual is not None:
            out["actual"] = MASK if hide else self.actual
        return out


def worst(findings: Iterable[Finding]) -> str:
    """The most severe status (PASS when there is nothing to report)."""
    status = PASS
    for f in findings:
        if SEVERITY[f.status] > SEVERITY[status]:
            status = f.status
    return status


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


# ---- env of a container as written in the pod spec ------------------------------------------------

@dataclass(frozen=True)
class EnvValue:
    """A spec env entry: a literal ``value`` or a ``valueFrom`` reference (compared by reference)."""

    value: str | None = None
    ref: str | None = None  # canonical text of valueFrom, e.g. "secretKeyRef:hf/token"
    secret: bool = False

    @property
    def canonical(self) -> str:
        return self.value if self.ref is None else f"<{self.ref}>"


def _ref_text(value_from: dict) -> tuple[str, bool]:
    for kind, body in sorted(value_from.items()):
        body = body or {}
        if kind == "fieldRef":
            return f"fieldRef:{body.get('fieldPath', '')}", False
        if kind == "resourceFieldRef":
            return f"resourceFieldRef:{body.get('containerName', '')}/{body.get('resource', '')}", False
        if kind in ("secretKeyRef", "configMapKeyRef"):
            return f"{kind}:{body.get('name', '')}/{body.get('key', '')}", kind == "secretKeyRef"
        return f"{kind}", False
    return "valueFrom", False


def spec_env(container: dict) -> dict[str, EnvValue]:
    """Name -> value of a container's ``env`` (a later duplicate wins, as the kubelet does)."""
    out: dict[str, EnvValue] = {}
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        vf = item.get("valueFrom")
        if vf:
            ref, secret = _ref_text(vf)
            out[name] = EnvValue(ref=ref, secret=secret or is_secret_name(name))
        else:
            out[name] = EnvValue(value=str(item.get("value", "")), secret=is_secret_name(name))
    return out


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand_env(container: dict) -> dict[str, str | None]:
    """Literal values after Kubernetes ``$(VAR)`` expansion (None for valueFrom entries)."""
    resolved: dict[str, str | None] = {}
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if item.get("valueFrom"):
            resolved[name] = None
            continue

        def sub(match: re.Match) -> str:
            if match.group(0) == "$$":
                return "$"
            ref = resolved.get(match.group(1))
            return ref if ref is not None else match.group(0)

        resolved[name] = _VAR_REF.sub(sub, str(item.get("value", "")))
    return resolved


def pod_containers(pod: dict, *, init: bool = True) -> list[tuple[str, dict]]:
    """(kind, container) for every container LWS injects env into: containers and init containers."""
    spec = pod.get("spec") or {}
    out = [("container", c) for c in spec.get("containers") or []]
    if init:
        out += [("initContainer", c) for c in spec.get("initContainers") or []]
    return out


# ---- expectations -----------------------------------------------------------------------------------

def expected_subdomain(lws: LwsView, group_index: int) -> str:
    """Shared: the LWS name; UniquePerReplica: ``<lws>-<group>`` (reference §6, §7)."""
    if lws.subdomain_policy == "UniquePerReplica":
        return f"{lws.name}-{group_index}"
    return lws.name


def expected_leader_address(lws_name: str, group_index: int, subdomain: str, namespace: str) -> str:
    return f"{lws_name}-{group_index}.{subdomain}.{namespace}"


def expected_group_key(namespace: str, leader_name: str) -> str:
    """SHA-1 of ``<namespace>/<leaderPodName>`` (deterministic across incarnations, §5)."""
    return hashlib.sha1(f"{namespace}/{leader_name}".encode()).hexdigest()


def _annotations(pod: dict) -> dict:
    return (pod.get("metadata") or {}).get("annotations") or {}


def _ns(pod: dict) -> str:
    return (pod.get("metadata") or {}).get("namespace", "")


def _requests_tpu(container: dict) -> bool:
    res = container.get("resources") or {}
    for section in ("limits", "requests"):
        value = (res.get(section) or {}).get(TPU_RESOURCE)
        if value not in (None, "", "0", 0):
            return True
    return False


def tpu_containers(pod: dict) -> list[dict]:
    """TPU-requesting containers in LWS's order: regular containers first, then init containers."""
    spec = pod.get("spec") or {}
    return [c for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
            if _requests_tpu(c)]


def expected_tpu_env(pod: dict, lws: LwsView, leader_requests_tpus: bool) -> dict[str, dict[str, str]]:
    """Container name -> the TPU variables LWS would inject (reference §6 TPU table, §8.8).

    Empty when the pod requests no TPUs. Subgroups scope the hosts and the ID to the pod's subgroup
    and only the first TPU container gets variables there.
    """
    containers = tpu_containers(pod)
    if not containers:
        return {}
    name = pod_name(pod)
    wi = worker_index(pod) or 0
    gi = labels(pod).get(keys.GROUP_INDEX_LABEL, "")
    leader = f"{lws.name}-{gi}" if wi else name
    sub = (pod.get("spec") or {}).get("subdomain") or lws.name
    ann = _annotations(pod)
    leader_tpu = wi == 0 or leader_requests_tpus
    if keys.SUBGROUP_SIZE_ANNOTATION in ann:
        try:
            g = int(ann[keys.SUBGROUP_SIZE_ANNOTATION])
            k = int(labels(pod).get(keys.SUBGROUP_INDEX_LABEL, ""))
        except ValueError:
            return {}
        c = containers[0]
        port = spec_env(c).get("TPU_PROCESS_PORT")
        port_text = port.value if port and port.value is not None else str(TPU_PROCESS_DEFAULT_PORT)
        start, end = g * k + 1, g * (k + 1)
        hosts: list[str] = []
        if wi == 0:
            hosts.append(f"{leader}.{sub}")
            end -= 1
        elif leader_tpu and k == 0:
            hosts.append(f"{leader}.{sub}")
            end -= 1
        elif leader_tpu:
            start, end = start - 1, end - 1
        hosts += [f"{leader}-{i}.{sub}" for i in range(start, end + 1)]
        worker_id = wi % g if leader_tpu else (wi - 1) % g
        env = {"TPU_WORKER_HOSTNAMES": ",".join(hosts), "TPU_WORKER_ID": str(worker_id), "TPU_NAME": leader,
               "TPU_PROCESS_ADDRESSES": ",".join(f"{h}:{port_text}" for h in hosts)}
        if port is None:
            env["TPU_PROCESS_PORT"] = port_text
        return {c.get("name", ""): env}
    n = len(containers)
    ports = []
    for i, c in enumerate(containers):
        port = spec_env(c).get("TPU_PROCESS_PORT")
        ports.append(port.value if port and port.value is not None else str(TPU_PROCESS_DEFAULT_PORT + i))
    pod_hosts = ([leader] if leader_tpu else []) + [f"{leader}-{i}" for i in range(1, lws_size_of(pod, lws))]
    hostnames = [f"{h}.{sub}" for h in pod_hosts for _ in range(n)]
    addresses = [f"{h}.{sub}:{ports[j]}" for h in pod_hosts for j in range(n)]
    pod_index = wi if leader_tpu else wi - 1
    out: dict[str, dict[str, str]] = {}
    for i, c in enumerate(containers):
        env = {"TPU_WORKER_HOSTNAMES": ",".join(hostnames), "TPU_WORKER_ID": str(pod_index * n + i),
               "TPU_NAME": leader, "TPU_PROCESS_ADDRESSES": ",".join(addresses)}
        if "TPU_PROCESS_PORT" not in spec_env(c) or spec_env(c)["TPU_PROCESS_PORT"].value == ports[i]:
            env["TPU_PROCESS_PORT"] = ports[i]
        out[c.get("name", "")] = env
    return out


def lws_size_of(pod: dict, lws: LwsView) -> int:
    """The group size the pod was built for: its ``size`` annotation, else the spec's."""
    try:
        return int(_annotations(pod).get(keys.SIZE_ANNOTATION, ""))
    except ValueError:
        return lws.size


def _template_sets_tpu_vars(lws: LwsView, leader: bool) -> bool:
    """Whether the user's own template sets TPU_WORKER_HOSTNAMES/ID (LWS then injects nothing)."""
    template = lws.leader_template() if leader else lws.worker_template()
    for _, c in pod_containers(template):
        if _requests_tpu(c) and any(e.get("name") in ("TPU_WORKER_HOSTNAMES", "TPU_WORKER_ID")
                                    for e in c.get("env") or []):
            return True
    return False


# ---- the static checks ------------------------------------------------------------------------------

def check_group(lws: LwsView, group: Group, *, also_prefixes: Iterable[str] = ()) -> list[Finding]:
    """Every static check for one group, in report order."""
    findings: list[Finding] = []
    gi = group.index
    if not group.pods:
        findings.append(Finding(gi, "pods", FAIL, "the group has no pods"))
        return findings
    for pod in group.pods:
        findings += check_pod(lws, pod, group)
    findings += check_identity(lws, group)
    findings += check_tpu(lws, group)
    findings += check_runtime_consistency(group, prefixes=(*RUNTIME_PREFIXES, *also_prefixes),
                                          strict=tuple(also_prefixes))
    return findings


def check_pod(lws: LwsView, pod: dict, group: Group) -> list[Finding]:
    """LWS_* variables of every container and init container, the pod's subdomain and name."""
    gi = group.index
    name = pod_name(pod)
    ns = _ns(pod) or lws.namespace
    lab = labels(pod)
    ann = _annotations(pod)
    out: list[Finding] = []
    subdomain = (pod.get("spec") or {}).get("subdomain") or ""
    want_sub = expected_subdomain(lws, gi)
    if subdomain != want_sub:
        out.append(Finding(gi, "subdomain", WARN,
                           f"spec.subdomain differs from the {lws.subdomain_policy} policy (a group built "
                           "before a subdomainPolicy change keeps its old subdomain until it is rolled)",
                           pod=name, expected=want_sub, actual=subdomain or "<unset>"))
    else:
        out.append(Finding(gi, "subdomain", PASS, f"spec.subdomain {subdomain} ({lws.subdomain_policy})", pod=name,
                           expected=want_sub, actual=subdomain))
    wi_label = lab.get(keys.WORKER_INDEX_LABEL)
    wi = worker_index(pod)
    want_name = f"{lws.name}-{gi}" if wi == 0 else f"{lws.name}-{gi}-{wi}"
    if name != want_name:
        out.append(Finding(gi, "group-index", FAIL, "the group-index/worker-index labels do not match the "
                           "pod name", pod=name, expected=want_name, actual=name))
    else:
        out.append(Finding(gi, "group-index", PASS, "labels match the pod name", pod=name, expected=want_name,
                           actual=name))
    size_ann = ann.get(keys.SIZE_ANNOTATION)
    if size_ann is not None and size_ann != str(lws.size):
        out.append(Finding(gi, "group-size", WARN, f"the pod was built for size {size_ann} but the spec now "
                           f"says {lws.size} (the group waits for a rollout)", pod=name,
                           expected=str(lws.size), actual=size_ann))
    want_size = size_ann if size_ann is not None else str(lws.size)
    want_addr = expected_leader_address(lws.name, gi, subdomain or want_sub, ns)
    for kind, c in pod_containers(pod):
        cname = c.get("name", "")
        env = spec_env(c)
        for var, want, check in ((keys.ENV_LEADER_ADDRESS, want_addr, "leader-address"),
                                 (keys.ENV_GROUP_SIZE, want_size, "group-size"),
                                 (keys.ENV_WORKER_INDEX, wi_label, "worker-index")):
            got = env.get(var)
            where = f"{kind} {cname}"
            if got is None:
                out.append(Finding(gi, check, FAIL, f"{var} is missing in {where} (pod created without "
                                   "the LWS webhook, or env overridden)", pod=name, container=cname,
                                   variable=var, expected=want, actual="<missing>"))
            elif got.ref is not None or got.value != want:
                out.append(Finding(gi, check, FAIL, f"{var} is wrong in {where}", pod=name, container=cname,
                                   variable=var, expected=want, actual=got.canonical))
            else:
                out.append(Finding(gi, check, PASS, f"{var}={want}", pod=name, container=cname,
                                   variable=var, expected=want, actual=got.value))
    return out


def check_identity(lws: LwsView, group: Group) -> list[Finding]:
    """One group-key and one template-revision-hash per group; the key is LWS's own hash."""
    gi = group.index
    out: list[Finding] = []
    leader = group.leader
    leader_name = pod_name(leader) if leader else f"{lws.name}-{gi}"
    ns = _ns(leader or group.pods[0]) or lws.namespace
    for label, check, what in ((keys.GROUP_KEY_LABEL, "group-key", "group keys (pods of different groups "
                                "or incarnations)"),
                               (keys.REVISION_LABEL, "revision", "template revisions (a partly updated "
                                "group)")):
        by_value: dict[str, list[str]] = {}
        for pod in group.pods:
            by_value.setdefault(labels(pod).get(label, "<missing>"), []).append(pod_name(pod))
        if len(by_value) > 1:
            detail = "; ".join(f"{v}: {', '.join(pods)}" for v, pods in sorted(by_value.items()))
            majority = max(by_value.items(), key=lambda kv: len(kv[1]))[0]
            odd = [p for v, pods in by_value.items() if v != majority for p in pods]
            out.append(Finding(gi, check, FAIL, f"mixed {what}: {detail}", pod=", ".join(odd),
                               expected=majority, actual=", ".join(sorted(v for v in by_value if v != majority))))
        else:
            value = next(iter(by_value))
            out.append(Finding(gi, check, PASS if value != "<missing>" else FAIL,
                               f"all {len(group.pods)} pods share {label.split('/')[-1]} {value[:12]}",
                               expected=value, actual=value))
    key = labels(leader).get(keys.GROUP_KEY_LABEL) if leader else None
    want = expected_group_key(ns, leader_name)
    if key and key != want:
        out.append(Finding(gi, "group-key", WARN, f"the group-key is not sha1(\"{ns}/{leader_name}\")",
                           pod=leader_name, expected=want, actual=key))
    if leader is None:
        out.append(Finding(gi, "pods", FAIL, f"the leader pod {leader_name} is missing"))
    missing = [w for w in group.missing_workers(lws.size) if w]
    if missing:
        out.append(Finding(gi, "pods", WARN, "missing worker pods: " +
                           ", ".join(f"{leader_name}-{w}" for w in missing)))
    elif leader is not None:
        out.append(Finding(gi, "pods", PASS, f"leader and {lws.size - 1} worker(s) present"))
    return out


def check_tpu(lws: LwsView, group: Group) -> list[Finding]:
    """TPU variables, only for pods whose containers request google.com/tpu (reference §6)."""
    if not any(tpu_containers(pod) for pod in group.pods):
        return [Finding(group.index, "tpu", INFO, f"not checked: no pod requests {TPU_RESOURCE}")]
    out: list[Finding] = []
    gi = group.index
    leader = group.leader
    leader_tpu = bool(leader and tpu_containers(leader))
    for pod in group.pods:
        wi = worker_index(pod) or 0
        flag = _annotations(pod).get(keys.LEADER_REQUESTS_TPUS_ANNOTATION)
        requests = flag == "true" if flag is not None else leader_tpu
        expected = expected_tpu_env(pod, lws, requests)
        if not expected:
            continue
        if _template_sets_tpu_vars(lws, leader=wi == 0):
            out.append(Finding(gi, "tpu", PASS, "TPU variables are set by the template (LWS injects none)",
                               pod=pod_name(pod)))
            continue
        by_name = {c.get("name", ""): c for _, c in pod_containers(pod)}
        for cname, want_env in expected.items():
            env = spec_env(by_name.get(cname, {}))
            bad = False
            for var, want in want_env.items():
                got = env.get(var)
                actual = "<missing>" if got is None else got.canonical
                if actual != want:
                    bad = True
                    out.append(Finding(gi, "tpu", FAIL, f"{var} does not match the group", pod=pod_name(pod),
                                       container=cname, variable=var, expected=want, actual=actual))
            if not bad:
                out.append(Finding(gi, "tpu", PASS, f"TPU variables match (TPU_WORKER_ID="
                                   f"{want_env['TPU_WORKER_ID']})", pod=pod_name(pod), container=cname))
    return out




def runtime_vars(pod: dict, prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    """Distributed-runtime variables of a pod's containers (the prefixes and MUST_AGREE): name -> canonical
    values seen."""
    out: dict[str, set[str]] = {}
    for _, c in pod_containers(pod, init=False):
        for name, value in spec_env(c).items():
            if name.startswith(prefixes) or name in MUST_AGREE:
                out.setdefault(name, set()).add(value.canonical)
    return out


def consistency(per_pod: dict[str, dict[str, set[str]]], gi: int | None, check: str,
                source: str, strict: tuple[str, ...] = ()) -> list[Finding]:
    """Same variables with the same values on every pod; a difference names the pods and values: a FAIL for
    MUST_AGREE (and the ``strict`` prefixes the user asked for with ``--also``), else a WARN."""
    out: list[Finding] = []
    names = sorted({n for env in per_pod.values() for n in env})
    consistent = []
    for name in names:
        values: dict[str, list[str]] = {}
        for pod, env in per_pod.items():
            vals = env.get(name)
            key = "<missing>" if not vals else " | ".join(sorted(vals))
            values.setdefault(key, []).append(pod)
        if len(values) == 1:
            consistent.append(name)
            continue
        majority = max(values.items(), key=lambda kv: (len(kv[1]), kv[0] != "<missing>"))[0]
        odd = {v: pods for v, pods in values.items() if v != majority}
        odd_pods = [p for pods in odd.values() for p in pods]
        detail = "; ".join(f"{', '.join(pods)}: {v if not is_secret_name(name) else MASK}"
                           for v, pods in values.items())
        if name in MUST_AGREE or (strict and name.startswith(strict)):
            reason = MUST_AGREE.get(name, "--also asks for it")
            out.append(Finding(gi, check, FAIL, f"{name} differs across the group ({source}): {detail}. It must "
                               f"agree: {reason}", pod=", ".join(odd_pods), variable=name,
                               expected=majority, actual=", ".join(sorted(odd)), secret=is_secret_name(name)))
        else:
            out.append(Finding(gi, check, WARN, f"{name} differs across the group ({source}): {detail} (a per-pod "
                               "setting? collectives do not need it equal)", pod=", ".join(odd_pods), variable=name,
                               expected=majority, actual=", ".join(sorted(odd)), secret=is_secret_name(name)))
    if not names:
        out.append(Finding(gi, check, PASS, f"no distributed-runtime variables set ({source})"))
    elif consistent:
        shown = ", ".join(consistent[:6]) + (f" (+{len(consistent) - 6})" if len(consistent) > 6 else "")
        out.insert(0, Finding(gi, check, PASS, f"{len(consistent)} runtime variable(s) identical on "
                              f"all pods ({source}): {shown}"))
    return out


def check_runtime_consistency(group: Group, *, prefixes: tuple[str, ...] = RUNTIME_PREFIXES,
                              strict: tuple[str, ...] = ()) -> list[Finding]:
    per_pod = {pod_name(p): runtime_vars(p, prefixes) for p in group.pods}
    return consistency(per_pod, group.index, "runtime-env", "spec", strict)


# ---- live env (read from the running containers) --------------------------------------------------

def parse_environ(blob: str) -> dict[str, str]:
    """NUL- or newline-separated ``NAME=value`` pairs into a dict (NUL wins when present)."""
    parts = blob.split("\0") if "\0" in blob else blob.splitlines()
    out: dict[str, str] = {}
    for part in parts:
        if "=" in part:
            name, value = part.split("=", 1)
            if name:
                out[name] = value
    return out


def check_live_container(lws: LwsView, pod: dict, container: dict, live: dict[str, str], group_index: int,
                         source: str) -> list[Finding]:
    """Compare what the process sees with the spec and with LWS's expectations."""
    out: list[Finding] = []
    name = pod_name(pod)
    cname = container.get("name", "")
    subdomain = (pod.get("spec") or {}).get("subdomain") or expected_subdomain(lws, group_index)
    ns = _ns(pod) or lws.namespace
    want_lws = {keys.ENV_LEADER_ADDRESS: expected_leader_address(lws.name, group_index, subdomain, ns),
                keys.ENV_GROUP_SIZE: str(lws_size_of(pod, lws)),
                keys.ENV_WORKER_INDEX: labels(pod).get(keys.WORKER_INDEX_LABEL, "")}
    resolved = expand_env(container)
    secrets = {n for n, v in spec_env(container).items() if v.secret}
    bad = 0
    for var, want in want_lws.items():
        got = live.get(var)
        if got != want:
            bad += 1
            out.append(Finding(group_index, "live-env", FAIL, f"{var} in the running process ({source}) "
                               "does not match the group", pod=name, container=cname, variable=var,
                               expected=want, actual="<missing>" if got is None else got))
    for var, want in resolved.items():
        if var in want_lws:
            continue
        secret = var in secrets or is_secret_name(var)
        got = live.get(var)
        if got is None:
            bad += 1
            out.append(Finding(group_index, "live-env", FAIL, f"{var} is in the spec but not in the running "
                               f"process ({source}): an entrypoint or wrapper removed it", pod=name,
                               container=cname, variable=var, expected="<set>" if want is None else want,
                               actual="<missing>", secret=secret))
        elif want is not None and got != want:
            bad += 1
            out.append(Finding(group_index, "live-env", FAIL, f"{var} differs between the spec and the running "
                               f"process ({source})", pod=name, container=cname, variable=var, expected=want,
                               actual=got, secret=secret))
    if not bad:
        out.append(Finding(group_index, "live-env", PASS, f"running process matches the spec ({source}, "
                           f"{len(resolved)} spec variables)", pod=name, container=cname))
    return out


def live_runtime_vars(live: dict[str, str], prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    return {n: {v} for n, v in live.items() if n.startswith(prefixes)}


@dataclass
class GroupReport:
    """Findings of one group (the unit every verify output is organised by)."""

    index: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        return worst(self.findings)
