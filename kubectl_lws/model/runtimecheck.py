"""Is the serving stack of each group wired right? vLLM, SGLang, Ray, NVIDIA NIM and TensorRT-LLM, from the
pod specs and from what ``ray`` and the server answer inside the leader.

Pure functions over pod/Service dicts and probe output. A group whose pods are Ready can still serve
nothing: a worker that never joins the leader's Ray cluster, ``--tensor-parallel-size`` x
``--pipeline-parallel-size`` that does not match the group's GPUs, SGLang's ``--nnodes`` not equal to the
LWS size, a ``--node-rank`` not taken from ``LWS_WORKER_INDEX``, a ``--dist-init-addr`` that is not the
leader, a Service aimed at the wrong port. Every finding names the template (leader/worker), the flag,
the expected and the actual value. What each pod runs is recognised in :mod:`launches` (re-exported
here); vLLM data/expert parallel and SGLang DP attention live in :mod:`dpcheck`, NIM and TensorRT-LLM in
:mod:`nvcheck`; this module dispatches, checks Ray, the serving port and Services, and the live answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from kubectl_lws.model import dpcheck, keys, nvcheck
from kubectl_lws.model.cmdline import first_flag, split_host_port
from kubectl_lws.model.groups import Group, LwsView, labels
from kubectl_lws.model.launches import (FAIL, INFO, MNS, NOT_RECOGNISED, PASS,  # noqa: F401 (re-exported API)
                                        RAY_DEFAULT_PORT, RECOGNISED, SEVERITY, SGLANG_DEFAULT_PORT,
                                        TRITON_DEFAULT_PORT, TRTLLM_SERVE_DEFAULT_PORT, VLLM_DEFAULT_PORT, WARN,
                                        Finding, GroupShape, Launch, PodStack, check_rendezvous, flag_int, fmt,
                                        group_shape, leader_address, pod_stack, recognise, same_host, shown_flag,
                                        worst)
from kubectl_lws.model.shell import shown

_int, _shown, _fmt, _same_host = flag_int, shown_flag, fmt, same_host


def check_group_static(lws: LwsView, group: Group, services: list[dict] | None = None,
                       shape: GroupShape | None = None) -> list[Finding]:
    """Every static runtime check for one group, in report order; every check of the recognised stack
    has its row (PASS, the problem, or INFO when it could not be evaluated)."""
    gi = group.index
    if not group.pods:
        return [Finding(gi, "pods", FAIL, "the group has no pods")]
    shape = shape or group_shape(lws, group)
    out: list[Finding] = []
    for s in shape.stacks:
        out += _recognised(gi, s)
    if not shape.kind:
        return out
    ray_shape = shape.ray
    if ray_shape or shape.kind == "ray":
        out += _check_ray(lws, gi, shape)
    if shape.kind == "vllm":
        out += _check_vllm(lws, gi, shape, ray_shape)
    elif shape.kind == "sglang":
        out += _check_sglang(lws, gi, shape)
    elif shape.kind == "nim":
        out += nvcheck.check_nim(lws, gi, shape)
    elif shape.kind == "trtllm":
        out += nvcheck.check_trtllm(lws, gi, shape)
    out += _check_serving_port(gi, shape, services or [])
    return out


def _recognised(gi: int, s: PodStack) -> list[Finding]:
    """INFO rows for what the checks could not see: an unrecognised command, a launch that runs only under
    a condition the script decides at run time, a script whose evaluation stopped early."""
    out: list[Finding] = []
    if not s.launches and not s.nim:
        ran = " ".join(str(x) for x in list(s.container.get("command") or []) + list(s.container.get("args") or []))
        out.append(Finding(gi, "recognise", INFO, NOT_RECOGNISED, template=s.role, pod=s.name, flag="command",
                           expected=RECOGNISED, actual=(shown(ran, 80) or "<image entrypoint>")))
    for launch in s.launches:
        if launch.cond:
            out.append(Finding(gi, "recognise", INFO, f"{shown(launch.text, 50)} runs only under `{launch.cond}`, "
                               "which cannot be evaluated statically: the checks assume it runs", template=s.role,
                               pod=s.name, flag="command", actual=launch.cond))
    for error in s.errors:
        out.append(Finding(gi, "recognise", INFO, f"the script was evaluated up to here: {error}", template=s.role,
                           pod=s.name, flag="command", actual=shown(error, 80)))
    return out


@dataclass
class Endpoint:
    """Where the leader serves and what answers there: ``health`` path, ``models`` path (None: none)."""

    port: int
    launch: Launch | None
    health: str = "/health"
    models: str | None = "/v1/models"
    model: str | None = None
    host: str | None = None


def serving_endpoint(shape: GroupShape) -> Endpoint | None:
    """The leader's serving endpoint: its server's --port (else the server's default), its health path."""
    leader = shape.leader
    if leader is None:
        return None
    launch = leader.find("vllm", "sglang", "trtllm-serve", "trtllm-leader")
    if launch is None:
        if shape.kind == "nim" and leader.nim:
            port = nvcheck.nim_port(leader)
            if port is None:
                return None
            return Endpoint(port, None, "/v1/health/ready", "/v1/models",
                            leader.env.get("NIM_SERVED_MODEL_NAME") or None)
        return None
    if launch.kind == "trtllm-leader":  # Triton serves HTTP on its default port (rank 0 only)
        return Endpoint(TRITON_DEFAULT_PORT, launch, "/v2/health/ready", None)
    default = {"vllm": VLLM_DEFAULT_PORT, "sglang": SGLANG_DEFAULT_PORT}.get(launch.kind, TRTLLM_SERVE_DEFAULT_PORT)
    port, _ = _int(launch.flags.get("port"), default)
    if port is None:
        return None
    host = launch.flags.get("host")
    bind = host.value if host and host.value and not host.unresolved else None
    return Endpoint(port, launch, model=served_model(launch), host=bind)


def serving_port(shape: GroupShape) -> tuple[int | None, Launch | None]:
    """The port the leader's server listens on (its --port, else the server's default)."""
    ep = serving_endpoint(shape)
    return (ep.port, ep.launch) if ep else (None, None)


def served_model(launch: Launch | None) -> str | None:
    """The model name the server should list in /v1/models."""
    if launch is None:
        return None
    name = first_flag(launch.flags, "served-model-name")
    if name and name.value:
        return name.value
    model = first_flag(launch.flags, "model", "model-path")
    if model and model.value:
        return model.value
    if launch.kind in ("vllm", "trtllm-serve") and launch.positional:
        # `vllm serve MODEL`: the first positional after "serve"
        pos = [w for w in launch.positional if w.value != "serve"]
        return pos[0].value if pos else None
    return None


def _check_ray(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    out: list[Finding] = []
    leader = shape.leader
    head_port = RAY_DEFAULT_PORT
    if leader is not None:
        head = leader.find("ray-head")
        mns = leader.find("mns-leader")
        if head is None and mns is None:
            out.append(Finding(gi, "ray-head", FAIL, "the leader starts no Ray head (ray start --head or "
                               f"{MNS} leader): the workers have nothing to join", template="leader",
                               pod=leader.name, flag="ray start --head", expected="a Ray head in the leader",
                               actual=leader.launches[0].text[:80] if leader.launches else "<none>"))
        elif mns is not None:
            out += _mns_form(gi, leader, mns, ("ray_cluster_size", "ray_port", "ray_init_timeout"))
            size_flag = mns.flags.get("ray-cluster-size")
            port, _ = _int(mns.flags.get("ray-port"), RAY_DEFAULT_PORT)
            head_port = port or RAY_DEFAULT_PORT
            out.append(Finding(gi, "ray-head", PASS, f"Ray head via {MNS} leader on port {head_port}",
                               template="leader", pod=leader.name, flag="leader", expected="a Ray head in the leader",
                               actual=f"{MNS} leader"))
            if size_flag is None:
                out.append(Finding(gi, "ray-cluster-size", FAIL, f"{MNS} leader needs --ray_cluster_size=N (it exits "
                                   "with 'Missing argument')", template="leader", pod=leader.name,
                                   flag="--ray_cluster_size", expected=str(lws.size), actual="<unset>"))
            elif size_flag.value != str(lws.size):
                out.append(Finding(gi, "ray-cluster-size", FAIL, "the leader waits for a different number of Ray "
                                   f"nodes than the group has pods (LWS size {lws.size})", template="leader",
                                   pod=leader.name, flag="--ray_cluster_size", expected=str(lws.size),
                                   actual=_shown(size_flag)))
            else:
                out.append(Finding(gi, "ray-cluster-size", PASS, f"--ray_cluster_size={lws.size} (LWS size)",
                                   template="leader", pod=leader.name, flag="--ray_cluster_size",
                                   expected=str(lws.size), actual=_shown(size_flag)))
        else:
            port, _ = _int(head.flags.get("port"), RAY_DEFAULT_PORT)
            head_port = port or RAY_DEFAULT_PORT
            out.append(Finding(gi, "ray-head", PASS, f"Ray head on port {head_port}", template="leader",
                               pod=leader.name, flag="--head", expected="a Ray head in the leader",
                               actual="ray start --head"))
            out.append(Finding(gi, "ray-cluster-size", INFO, f"not applicable: ray start --head waits for no node "
                               f"count (only {MNS} leader does)", template="leader", pod=leader.name,
                               flag="--ray_cluster_size"))
    for w in shape.workers:
        out += _check_ray_worker(lws, gi, w, head_port)
    if shape.workers and not any(f.check == "ray-port" for f in out):
        out.append(Finding(gi, "ray-port", INFO, "not checked: no worker joins a Ray head (see ray-address)",
                           flag="--address"))
    if leader is None:
        out.append(Finding(gi, "ray-head", INFO, "not checked: the group has no leader pod", template="leader"))
    mns = [s for s in shape.stacks if s.find("mns-leader", "mns-worker")]
    if not any(f.check == "script-flags" for f in out):
        out.append(Finding(gi, "script-flags", PASS if mns else INFO,
                           f"{MNS} flags in --flag=value form" if mns else f"not applicable: no {MNS}",
                           flag="--ray_*"))
    if not shape.workers:
        out.append(Finding(gi, "ray-address", INFO, "not applicable: the group has no worker pods",
                           flag="--address"))
    return out


def _mns_form(gi: int, s: PodStack, launch: Launch, names: tuple[str, ...]) -> list[Finding]:
    """multi-node-serving.sh only understands ``--flag=value``: a spaced value is passed on to ray start."""
    out = []
    for key, flag in launch.flags.items():
        if key.replace("-", "_") in names and flag.form == " ":
            out.append(Finding(gi, "script-flags", FAIL, f"{MNS} reads only {flag.name}=VALUE; '{flag.name} "
                               f"{flag.value}' is passed to ray start and the script fails", template=s.role,
                               pod=s.name, flag=flag.name, expected=f"{flag.name}={flag.value}",
                               actual=f"{flag.name} {flag.value}"))
    return out


def _check_ray_worker(lws: LwsView, gi: int, w: PodStack, head_port: int) -> list[Finding]:
    want = leader_address(w, lws, gi)
    if w.find("ray-head"):
        return [Finding(gi, "ray-address", FAIL, "a worker starts its own Ray head: it never joins the leader's "
                        "cluster", template="worker", pod=w.name, flag="--head",
                        expected=f"ray start --address={want}:{head_port}", actual="ray start --head")]
    ray = w.find("ray-worker")
    mns = w.find("mns-worker")
    if ray is None and mns is None:
        return [Finding(gi, "ray-address", FAIL, "the worker runs no Ray worker (ray start --address or "
                        f"{MNS} worker): it never joins the leader", template="worker", pod=w.name,
                        flag="ray start --address", expected=f"{want}:{head_port}",
                        actual=w.launches[0].text[:80] if w.launches else "<no recognised command>")]
    out: list[Finding] = []
    if mns is not None:
        out += _mns_form(gi, w, mns, ("ray_address", "ray_port", "ray_init_timeout"))
        addr = mns.flags.get("ray-address")
        port, _ = _int(mns.flags.get("ray-port"), RAY_DEFAULT_PORT)
        flag_name = "--ray_address"
        if addr is None or not addr.value:
            return out + [Finding(gi, "ray-address", FAIL, f"{MNS} worker needs --ray_address=$(LWS_LEADER_ADDRESS)",
                                  template="worker", pod=w.name, flag=flag_name, expected=want, actual="<unset>")]
        host, extra_port = split_host_port(addr.value)
        if extra_port is not None:
            out.append(Finding(gi, "ray-address", FAIL, f"{MNS} appends :$ray_port itself: the address becomes "
                               f"{addr.value}:{port}", template="worker", pod=w.name, flag=flag_name,
                               expected=want, actual=_shown(addr)))
    else:
        addr = ray.flags.get("address")
        flag_name = "--address"
        if addr is None or not addr.value:
            return [Finding(gi, "ray-address", FAIL, "ray start without --head or --address: the worker starts "
                            "nothing to join", template="worker", pod=w.name, flag=flag_name,
                            expected=f"{want}:{head_port}", actual="<unset>")]
        host, port = split_host_port(addr.value)
        if port is None:
            port = RAY_DEFAULT_PORT
    if addr.unresolved:
        out.append(Finding(gi, "ray-address", WARN, f"{flag_name} uses a variable with no value in the spec",
                           template="worker", pod=w.name, flag=flag_name, expected=want, actual=_shown(addr)))
    elif not _same_host(host, want):
        out.append(Finding(gi, "ray-address", FAIL, "the worker joins a Ray head that is not this group's "
                           "leader (use $(LWS_LEADER_ADDRESS))", template="worker", pod=w.name, flag=flag_name,
                           expected=want, actual=_shown(addr)))
    else:
        note = "" if addr.raw and keys.ENV_LEADER_ADDRESS in addr.raw else " (literal: use $(LWS_LEADER_ADDRESS))"
        out.append(Finding(gi, "ray-address", PASS if not note else WARN,
                           f"joins the leader at {host}:{port}{note}", template="worker", pod=w.name,
                           flag=flag_name, expected=want, actual=_shown(addr)))
    port_flag = "--ray_port" if mns is not None else "--address"
    if port != head_port:
        out.append(Finding(gi, "ray-port", FAIL, f"the worker connects to port {port}, the head listens on "
                           f"{head_port}", template="worker", pod=w.name, flag=port_flag, expected=str(head_port),
                           actual=str(port)))
    else:
        out.append(Finding(gi, "ray-port", PASS, f"port {port}, the head's", template="worker", pod=w.name,
                           flag=port_flag, expected=str(head_port), actual=str(port)))
    return out


def _check_vllm(lws: LwsView, gi: int, shape: GroupShape, ray_shape: bool) -> list[Finding]:
    out: list[Finding] = []
    servers = [(s, s.find("vllm")) for s in shape.stacks if s.find("vllm")]
    leader = shape.leader
    lead = leader.find("vllm") if leader else None
    if lead is None and leader is not None:
        out.append(Finding(gi, "vllm", FAIL, "the workers run vLLM but the leader does not: nothing serves the "
                           "group's endpoint", template="leader", pod=leader.name, flag="vllm serve",
                           expected="vllm serve in the leader", actual="<none>"))
    elif lead is not None:
        out.append(Finding(gi, "vllm", PASS, "the leader runs vLLM", template="leader", pod=leader.name,
                           flag="vllm serve", actual=shown(lead.text, 80)))
    s0, launch = (leader, lead) if lead is not None else servers[0]
    if dpcheck.uses_data_parallel(shape):
        return out + dpcheck.check_vllm_dp(lws, gi, shape)
    out.append(dpcheck.check_world(gi, s0, launch, shape))
    mp_nodes = first_flag(launch.flags, "nnodes")
    backend = launch.flags.get("distributed-executor-backend")
    b = (backend.value or "").lower() if backend else ""
    if lws.size > 1 and mp_nodes is not None:
        # vLLM's own multi-node launch (no Ray): every pod runs vllm with --nnodes/--node-rank/--master-addr
        out += check_rendezvous(lws, gi, shape, "vllm", ("nnodes",), ("node-rank",), ("master-addr",))
        if b == "ray":
            out.append(Finding(gi, "executor-backend", FAIL, "--nnodes starts vLLM on every pod without Ray, but the "
                               "backend is ray", template=s0.role, pod=s0.name, flag=backend.name,
                               expected="mp", actual=_shown(backend)))
        else:
            out.append(Finding(gi, "executor-backend", PASS, "mp: --nnodes starts vLLM on every pod",
                               template=s0.role, pod=s0.name, flag="--distributed-executor-backend", expected="mp",
                               actual=b or "<unset>"))
    elif lws.size == 1:
        out.append(Finding(gi, "executor-backend", INFO, "not applicable: one pod per group", template=s0.role,
                           pod=s0.name, flag="--distributed-executor-backend"))
    elif lws.size > 1:
        if not ray_shape:
            out.append(Finding(gi, "executor-backend", FAIL, "vLLM spans several pods but nothing connects them: "
                               "start Ray in every pod (ray start / multi-node-serving.sh) or use --nnodes",
                               template=s0.role, pod=s0.name, flag="--distributed-executor-backend",
                               expected="ray (with a Ray cluster over the group)", actual=b or "<unset>"))
        elif b and b != "ray":
            out.append(Finding(gi, "executor-backend", FAIL, f"backend {b} cannot use the group's Ray cluster: the "
                               "workers' GPUs stay unused", template=s0.role, pod=s0.name, flag=backend.name,
                               expected="ray", actual=_shown(backend)))
        else:
            out.append(Finding(gi, "executor-backend", PASS, "ray" + ("" if b else " (unset: vLLM picks Ray when "
                               "the world size exceeds one pod's GPUs)"), template=s0.role, pod=s0.name,
                               flag="--distributed-executor-backend", expected="ray", actual=b or "<unset>"))
    for s, extra in servers:
        if s is not s0 and mp_nodes is None and ray_shape:
            out.append(Finding(gi, "vllm", WARN, "a worker runs its own vLLM server next to the Ray worker",
                               template=s.role, pod=s.name, flag="vllm serve", expected="only ray start",
                               actual=extra.text[:80]))
    return out


def _check_sglang(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    out = dpcheck.check_sglang_parallel(gi, shape)
    if lws.size > 1:
        out += check_rendezvous(lws, gi, shape, "sglang", ("nnodes",), ("node-rank",), ("dist-init-addr",))
    return out


def _selects(selector: dict, pod_labels: dict) -> bool:
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())


def _check_serving_port(gi: int, shape: GroupShape, services: list[dict]) -> list[Finding]:
    ep = serving_endpoint(shape)
    leader = shape.leader
    if ep is None or leader is None:
        why = "no server recognised in the leader" if leader is not None else "the group has no leader pod"
        return [Finding(gi, "serving-port", INFO, f"not checked: {why}", template="leader", flag="--port"),
                Finding(gi, "service", INFO, f"not checked: {why}", template="leader", flag="--port")]
    port = ep.port
    out: list[Finding] = []
    container = leader.container
    declared = {p.get("containerPort"): p.get("name") for p in container.get("ports") or []}
    flag = "NIM_SERVER_PORT" if ep.launch is None else "--port" if ep.launch.kind != "trtllm-leader" else \
        "tritonserver --http-port"
    if port in declared:
        out.append(Finding(gi, "serving-port", PASS, f"serves on {port}, a declared containerPort",
                           template="leader", pod=leader.name, flag=flag, expected=str(port), actual=str(port)))
    else:
        out.append(Finding(gi, "serving-port", WARN, f"serves on {port} but the container declares "
                           f"{', '.join(str(p) for p in declared) or 'no ports'} (probes and named targetPorts "
                           "cannot find it)", template="leader", pod=leader.name, flag=flag, expected=str(port),
                           actual=", ".join(str(p) for p in declared) or "<none>"))
    by_name = {v: k for k, v in declared.items() if v}
    leader_labels = labels(leader.pod)
    # workers that serve an endpoint of their own (vLLM hybrid/external data parallel): a Service may select them
    serving_workers = {w.name for w in shape.workers if (x := w.find("vllm")) is not None and "headless" not in x.flags
                       and dpcheck.uses_data_parallel(shape)}
    selected = 0
    for svc in services:
        spec = svc.get("spec") or {}
        sel = spec.get("selector") or {}
        if spec.get("clusterIP") == "None" or not _selects(sel, leader_labels):
            continue  # headless: the LWS's own per-pod DNS Service, not a traffic path
        selected += 1
        sname = (svc.get("metadata") or {}).get("name", "")
        targets = []
        for sp in spec.get("ports") or []:
            tp = sp.get("targetPort", sp.get("port"))
            targets.append(by_name.get(tp, tp) if isinstance(tp, str) else tp)
        if port in targets:
            out.append(Finding(gi, "service", PASS, f"Service {sname} sends traffic to {port}", template="leader",
                               pod=leader.name, flag=flag, expected=str(port), actual=str(port)))
        else:
            out.append(Finding(gi, "service", FAIL, f"Service {sname} selects the leaders but targets "
                               f"{', '.join(str(t) for t in targets)}, not the serving port", template="leader",
                               pod=leader.name, flag=flag, expected=str(port),
                               actual=", ".join(str(t) for t in targets) or "<no ports>"))
        hit = [w.name for w in shape.workers if _selects(sel, labels(w.pod)) and w.name not in serving_workers]
        if hit:
            out.append(Finding(gi, "service", WARN, f"Service {sname} also selects workers, which serve nothing "
                               f"({', '.join(hit[:3])}{'...' if len(hit) > 3 else ''}): add role: leader to its "
                               "selector", template="worker", pod=hit[0], flag="selector",
                               expected="leaders only", actual=", ".join(f"{k}={v}" for k, v in sel.items())))
    if not selected:
        out.append(Finding(gi, "service", INFO, "not checked: no Service selects the leaders", template="leader",
                           pod=leader.name, flag="selector"))
    return out


# ---- live: what ray and the server say -----------------------------------------------------------------

@dataclass
class RayView:
    """Alive nodes as Ray reports them: IPs when known (ray list nodes), else counts (ray status)."""

    source: str
    alive: int
    gpus: float | None
    ips: list[str] | None = None
    dead_ips: list[str] = field(default_factory=list)
    head_ip: str | None = None
    pending: int = 0


def parse_ray_list_nodes(text: str) -> RayView | None:
    """``ray list nodes --format=json``: a JSON list of NodeState dicts (node_ip, state, resources_total...)."""
    start = text.find("[")
    if start < 0:
        return None
    try:
        nodes = json.loads(text[start:])
    except ValueError:
        return None
    if not isinstance(nodes, list):
        return None
    alive = [n for n in nodes if isinstance(n, dict) and str(n.get("state", "")).upper() == "ALIVE"]
    gpus = 0.0
    for n in alive:
        res = n.get("resources_total") or {}
        for key in ("GPU", "TPU"):
            try:
                gpus += float(res.get(key, 0) or 0)
            except (TypeError, ValueError):
                pass
    head = next((n.get("node_ip") for n in alive if n.get("is_head_node")), None)
    return RayView("ray list nodes", len(alive), gpus, [str(n.get("node_ip")) for n in alive],
                   [str(n.get("node_ip")) for n in nodes if isinstance(n, dict) and n not in alive], head)


_NODE_LINE = re.compile(r"^\s*(\d+)\s+(\S.*)$")
_USAGE_LINE = re.compile(r"^\s*([\d.]+)([A-Za-z]*)/([\d.]+)([A-Za-z]*)\s+(\S+)\s*$")


def parse_ray_status(text: str) -> RayView | None:
    """``ray status``: node counts under Active:/Healthy:/Idle:, pending under Pending:, GPUs from Usage."""
    if "Node status" not in text:
        return None
    section = ""
    alive = pending = 0
    gpus: float | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("Active:", "Healthy:", "Idle:", "Pending:", "Recent failures:"):
            section = stripped
            continue
        if stripped.endswith("Usage:") or stripped.startswith("Resources"):
            section = "Usage" if stripped.endswith("Usage:") else ""
            continue
        if stripped.endswith("Demands:") or stripped.endswith("Constraints:") or stripped.startswith("From request"):
            section = ""
            continue
        if section in ("Active:", "Healthy:", "Idle:"):
            m = _NODE_LINE.match(line)
            if m:
                alive += int(m.group(1))
        elif section == "Pending:" and not stripped.startswith("("):
            pending += 1
        elif section == "Usage":
            m = _USAGE_LINE.match(line)
            if m and m.group(5) in ("GPU", "TPU"):
                gpus = (gpus or 0) + float(m.group(3))
    return RayView("ray status", alive, gpus if gpus is not None else 0.0, pending=pending)


def pod_ips(pod: dict) -> list[str]:
    status = pod.get("status") or {}
    ips = [i.get("ip") for i in status.get("podIPs") or [] if i.get("ip")]
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def check_ray_live(lws: LwsView, group: Group, shape: GroupShape, view: RayView | None, error: str = "",
                   leader: str = "") -> list[Finding]:
    """Alive nodes == size, GPUs == the group's, and which workers are not in the cluster."""
    gi = group.index
    if view is None:
        return [Finding(gi, "ray-nodes", FAIL, f"cannot read the Ray cluster: {error or 'no answer'}",
                        template="leader", pod=leader, flag="ray status")]
    out: list[Finding] = []
    size = lws.size
    missing: list[str] = []
    foreign: list[str] = []
    if view.ips is not None:
        alive = set(view.ips)
        ours: set[str] = set()
        for s in shape.stacks:
            ours |= set(pod_ips(s.pod))
            if not set(pod_ips(s.pod)) & alive:
                missing.append(s.name)
        foreign = [ip for ip in view.ips if ip not in ours]
        present = {s.worker_index for s in shape.stacks}
        missing += [f"{lws.name}-{gi}-{w}" for w in range(1, size) if w not in present]
    source = view.source
    cmd = "ray list nodes" if source == "ray list nodes" else "ray status"
    if view.alive == size and not missing and not foreign:
        out.append(Finding(gi, "ray-nodes", PASS, f"{view.alive}/{size} nodes alive ({source})", template="leader",
                           pod=leader, flag=cmd, expected=str(size), actual=str(view.alive)))
    else:
        detail = ""
        if missing:
            detail = f"; not in the Ray cluster: {', '.join(missing)}"
            died = [s.name for s in shape.stacks if set(pod_ips(s.pod)) & set(view.dead_ips)]
            if died:
                detail += f" (joined, then died: {', '.join(died)})"
        elif view.ips is None and view.alive < size:
            detail = "; ray status does not list addresses, so which worker is missing is unknown"
        if foreign:
            detail += (f"; nodes that are not pods of this group joined: {', '.join(foreign)} (another group's "
                       "worker with a hard-coded leader address?)")
        if view.pending:
            detail += f"; {view.pending} pending"
        out.append(Finding(gi, "ray-nodes", FAIL, f"{view.alive}/{size} nodes alive ({source}){detail}",
                           template="worker" if missing and missing != [leader] else "leader",
                           pod=", ".join(missing) or leader, flag=cmd, expected=str(size),
                           actual=str(view.alive)))
    if view.gpus is not None and shape.group_gpus:
        if abs(view.gpus - shape.group_gpus) < 1e-6:
            out.append(Finding(gi, "ray-gpus", PASS, f"{_fmt(view.gpus)} GPUs in the Ray cluster", template="leader",
                               pod=leader, flag=cmd, expected=_fmt(shape.group_gpus),
                               actual=_fmt(view.gpus)))
        else:
            out.append(Finding(gi, "ray-gpus", FAIL, f"the Ray cluster has {_fmt(view.gpus)} GPUs, the group "
                               f"requests {_fmt(shape.group_gpus)} ({shape.per_pod})", template="leader", pod=leader,
                               flag=cmd, expected=_fmt(shape.group_gpus), actual=_fmt(view.gpus)))
    return out


def check_http_live(gi: int, leader: str, port: int, records: list[dict], model: str | None,
                    health: str = "/health", models: str | None = "/v1/models") -> list[Finding]:
    """GET ``health`` and ``models`` results (from the in-leader probe) -> findings; a server without a
    model list (Triton) gets an INFO ``models`` row."""
    out: list[Finding] = []
    by_path = {r.get("path"): r for r in records if isinstance(r, dict)}
    paths = [(health, "health")] + ([(models, "models")] if models else [])
    for path, check in paths:
        r = by_path.get(path)
        where = f"127.0.0.1:{port}{path}"
        if r is None:
            out.append(Finding(gi, check, FAIL, f"GET {where}: no result", template="leader", pod=leader,
                               flag="--port", expected="200", actual="<none>"))
            continue
        ms = r.get("ms")
        took = f" in {ms:.0f}ms" if isinstance(ms, (int, float)) else ""
        status = r.get("status")
        if r.get("error") or status is None:
            err = r.get("error") or "no answer"
            hint = " (nothing listens: the server is down or not started yet)" if "refused" in err else ""
            out.append(Finding(gi, check, FAIL, f"GET {where}: {err}{hint}", template="leader", pod=leader,
                               flag="--port", expected="200", actual=err))
            continue
        if status != 200:
            why = " (engine dead)" if status == 503 and check == "health" else ""
            out.append(Finding(gi, check, FAIL, f"GET {where}: HTTP {status}{why}{took}", template="leader",
                               pod=leader, flag="--port", expected="200", actual=str(status)))
            continue
        if check == "health":
            out.append(Finding(gi, check, PASS, f"GET {where}: 200{took}", template="leader", pod=leader,
                               flag="--port", expected="200", actual="200"))
            continue
        ids: list[str] = []
        try:
            body = json.loads(r.get("body") or "")
            ids = [str(m.get("id")) for m in body.get("data") or [] if isinstance(m, dict)]
        except (ValueError, AttributeError):
            pass
        if not ids:
            out.append(Finding(gi, check, WARN, f"GET {where}: 200{took} but no model listed", template="leader",
                               pod=leader, flag="--model", expected=model or "a model", actual="<none>"))
        elif model and model not in ids:
            out.append(Finding(gi, check, WARN, f"GET {where}: serves {', '.join(ids)}{took}, not the model in the "
                               "spec", template="leader", pod=leader, flag="--model", expected=model,
                               actual=", ".join(ids)))
        else:
            out.append(Finding(gi, check, PASS, f"GET {where}: serves {', '.join(ids)}{took}", template="leader",
                               pod=leader, flag="--model", expected=model or ids[0], actual=", ".join(ids)))
    if not models:
        out.append(Finding(gi, "models", INFO, "not checked: this server lists no OpenAI models", template="leader",
                           pod=leader, flag="--port"))
    return out
