"""Data and expert parallel layouts: vLLM's ``--data-parallel-*`` over the pods of a group (wide expert
parallel as llm-d runs it) and SGLang's DP attention and expert parallel, checked from the pod specs.

Pure functions. vLLM's rules are those of its ``EngineArgs.create_engine_config`` and ``vllm serve``
argument checks (``docs/serving/data_parallel_deployment.md``): DP x TP x PP GPUs in the group, each pod
running ``--data-parallel-size-local`` engines of TP x PP GPUs from ``--data-parallel-start-rank`` (or the
rank it infers from ``--nnodes``/``--node-rank``), the ranks of all pods partitioning ``[0, DP)``, every
engine meeting the others at ``--data-parallel-address``:``--data-parallel-rpc-port``, and one load
balancing mode (internal with ``--headless`` workers, hybrid, external, multi-port external, or Ray).
SGLang's (``server_args.py``): with ``--enable-dp-attention`` the DP ranks split the TP group
(``tp % dp == 0``, GPUs = TP x PP); ``--ep-size`` divides ``--tp-size``.

Every check returns at least one row: PASS, the problem, or INFO when a value cannot be evaluated
statically (the flag, the whole expression, why) or the check does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubectl_lws.model.cmdline import Flag, first_flag, split_host_port
from kubectl_lws.model.groups import LwsView
from kubectl_lws.model.launches import (FAIL, INFO, PASS, WARN, Finding, GroupShape, Launch, PodStack,
                                        check_rendezvous, flag_int, leader_address, not_evaluated, ranges,
                                        same_host, shown_flag, world_finding)

VLLM_RPC_PORT = 29550   # ParallelConfig.data_parallel_rpc_port
# vLLM's short spellings (``-dp 16``) -> the long name
_VLLM_ALIASES = {"dp": "data-parallel-size", "dpl": "data-parallel-size-local", "dpr": "data-parallel-start-rank",
                 "dpn": "data-parallel-rank", "dpa": "data-parallel-address", "dpp": "data-parallel-rpc-port",
                 "dpb": "data-parallel-backend", "tp": "tensor-parallel-size", "pp": "pipeline-parallel-size"}
VLLM_DP_FLAGS = frozenset({"data-parallel-size", "data-parallel-size-local", "data-parallel-start-rank",
                           "data-parallel-rank", "data-parallel-address", "data-parallel-rpc-port",
                           "data-parallel-backend", "data-parallel-hybrid-lb", "data-parallel-external-lb",
                           "data-parallel-multi-port-external-lb", "data-parallel-supervisor-port"})
SGLANG_SPELLINGS = {"tp": ("tensor-parallel-size", "tp-size", "tp"), "pp": ("pipeline-parallel-size", "pp-size", "pp"),
                    "dp": ("data-parallel-size", "dp-size", "dp"), "ep": ("expert-parallel-size", "ep-size", "ep")}


def vflag(launch: Launch, name: str) -> Flag | None:
    """A vLLM flag by its long name or short alias."""
    flag = launch.flags.get(name)
    if flag is None:
        for short, long in _VLLM_ALIASES.items():
            if long == name and short in launch.flags:
                return launch.flags[short]
    return flag


# ---- the world size --------------------------------------------------------------------------------------

def parallel(launch: Launch) -> dict[str, tuple[Flag | None, str]]:
    """name -> (flag or None, spelling for messages) of TP, PP and DP (vLLM) or TP, PP, DP, EP (SGLang)."""
    out: dict[str, tuple[Flag | None, str]] = {}
    if launch.kind == "vllm":
        for key, name in (("tp", "tensor-parallel-size"), ("pp", "pipeline-parallel-size"),
                          ("dp", "data-parallel-size")):
            f = vflag(launch, name)
            out[key] = (f, f.name if f else f"--{name}")
    else:
        for key, spellings in SGLANG_SPELLINGS.items():
            f = first_flag(launch.flags, *spellings)
            out[key] = (f, f.name if f else f"--{spellings[1]}")
    return out


def _value(flag: Flag | None, default: int = 1) -> int | None:
    return flag_int(flag, default)[0] if flag is None or not flag.unresolved else None


def _text(flag: Flag | None, default: int = 1) -> str:
    return f"{default}" if flag is None else shown_flag(flag)


def check_world(gi: int, s: PodStack, launch: Launch, shape: GroupShape, *, dp_multiplies: bool = True) -> Finding:
    """TP x PP (x DP) == the group's GPUs. ``dp_multiplies``: False under SGLang's DP attention, whose DP
    ranks split the TP group."""
    par = parallel(launch)
    keys_ = ["tp", "pp"] + (["dp"] if dp_multiplies else [])
    for key in keys_:
        flag = par[key][0]
        if flag is not None and _value(flag) is None:
            return not_evaluated(gi, "tp-pp", s, flag)
    values = {k: _value(par[k][0]) or 1 for k in keys_}
    need = 1
    for v in values.values():
        need *= v
    shown_keys = [k for k in keys_ if k != "dp" or values["dp"] != 1]
    flag = " x ".join(par[k][1] for k in shown_keys)
    actual = " x ".join(_text(par[k][0]) for k in shown_keys) + f" = {need}"
    return world_finding(gi, s, need, actual, flag, shape)


# ---- vLLM data parallel ----------------------------------------------------------------------------------

def uses_data_parallel(shape: GroupShape) -> bool:
    """Any pod's vLLM runs data parallel (DP > 1, or DP wiring flags / --headless)."""
    for s in shape.stacks:
        launch = s.find("vllm")
        if launch is None:
            continue
        dp = vflag(launch, "data-parallel-size")
        if dp is not None and (dp.unresolved or _value(dp) not in (None, 1)):
            return True
        if "headless" in launch.flags or any(vflag(launch, f) is not None for f in VLLM_DP_FLAGS):
            return True
    return False


@dataclass
class DPPod:
    """One pod's data-parallel engines as vLLM would set them up."""

    s: PodStack
    launch: Launch
    dp: int | None
    tp: int | None
    pp: int | None
    local: int | None = None
    start: int | None = None
    start_given: bool = False
    mode: str = "internal"          # internal | hybrid | external | multi-port | ray
    headless: bool = False
    ep: bool = False
    backend: str = "mp"
    nnodes: int = 1
    problems: list[Finding] = field(default_factory=list)   # dp-mode errors of this pod alone
    unknown: dict[str, Finding] = field(default_factory=dict)  # flag -> INFO: values that cannot be evaluated

    @property
    def claims(self) -> range | None:
        if self.local is None or self.start is None:
            return None
        return range(self.start, self.start + self.local)


def _dp_pod(gi: int, s: PodStack, launch: Launch) -> DPPod:
    """vLLM's own derivation (``create_engine_config``) of the pod's DP-local size, first rank and mode."""
    def num(name: str, default: int | None) -> int | None:
        flag = vflag(launch, name)
        if flag is None:
            return default
        value = _value(flag, default or 0)
        if value is None:
            p.unknown[name] = not_evaluated(gi, "dp-ranks", s, flag)
        return value

    p = DPPod(s, launch, None, None, None)
    p.dp, p.tp, p.pp = num("data-parallel-size", 1), num("tensor-parallel-size", 1), num("pipeline-parallel-size", 1)
    p.nnodes = num("nnodes", 1) or 1
    node_rank = num("node-rank", 0) or 0
    local = num("data-parallel-size-local", None)
    start = num("data-parallel-start-rank", None)
    rank = num("data-parallel-rank", None)
    p.start_given = vflag(launch, "data-parallel-start-rank") is not None or vflag(launch, "data-parallel-rank") is not None
    p.headless = "headless" in launch.flags
    p.ep = "enable-expert-parallel" in launch.flags
    backend = vflag(launch, "data-parallel-backend")
    p.backend = (backend.value or "mp").lower() if backend else "mp"
    hybrid = "data-parallel-hybrid-lb" in launch.flags
    external = "data-parallel-external-lb" in launch.flags or vflag(launch, "data-parallel-rank") is not None
    multiport = "data-parallel-multi-port-external-lb" in launch.flags
    inferred_hybrid = not hybrid and not multiport and vflag(launch, "data-parallel-start-rank") is not None
    modes = [m for m, on in (("multi-port", multiport), ("external", external),
                             ("hybrid", hybrid or (inferred_hybrid and not p.headless))) if on]

    def problem(message: str, flag: str, actual: str) -> None:
        p.problems.append(Finding(gi, "dp-mode", FAIL, message, template=s.role, pod=s.name, flag=flag,
                                  actual=actual))

    if len(modes) > 1:
        problem(f"more than one data parallel mode on one pod ({', '.join(modes)}): vLLM refuses to start",
                "--data-parallel-*", ", ".join(modes))
    if p.headless and hybrid:
        problem("--data-parallel-hybrid-lb starts an API server on every pod; --headless starts none: vLLM "
                "refuses the pair", "--headless", "--headless --data-parallel-hybrid-lb")
    if p.backend == "ray" and p.nnodes > 1:
        problem("--nnodes > 1 needs --data-parallel-backend mp", "--data-parallel-backend", p.backend)
    if None in (p.dp, p.tp, p.pp):
        return p
    if local is not None and local > p.dp:
        problem(f"--data-parallel-size-local {local} is more than --data-parallel-size {p.dp}",
                "--data-parallel-size-local", str(local))
    inferred_rank = 0
    if p.nnodes > 1:
        world, within = p.dp * p.pp * p.tp, p.pp * p.tp
        if world % p.nnodes:
            problem(f"the world size DP x PP x TP = {world} is not divisible by --nnodes {p.nnodes}", "--nnodes",
                    str(p.nnodes))
            return p
        local_world = world // p.nnodes
        inferred_rank = node_rank * local_world // within
        if external and rank is None:
            rank = inferred_rank
        elif local is None:
            local = max(local_world // within, 1)
    if external:
        if rank is None:
            problem("--data-parallel-external-lb needs --data-parallel-rank (or --node-rank)",
                    "--data-parallel-rank", "<unset>")
            return p
        if local not in (None, 1):
            problem("--data-parallel-rank runs one engine per process: --data-parallel-size-local must be 1",
                    "--data-parallel-size-local", str(local))
        p.mode, p.local, p.start = "external", 1, rank
    elif multiport:
        p.mode, p.local, p.start = "multi-port", local if local is not None else p.dp, start or inferred_rank
    elif local is not None:
        p.local, p.start = local, start if start is not None else inferred_rank
        if hybrid or (start and not p.headless):
            p.mode = "external" if local == 1 else ("internal" if local == p.dp else "hybrid")
    elif hybrid:
        problem("--data-parallel-hybrid-lb needs --data-parallel-size-local", "--data-parallel-size-local",
                "<unset>")
        return p
    elif p.backend == "ray":
        p.mode, p.local, p.start = "ray", None, None
    else:
        p.local, p.start = p.dp, 0
    if p.backend == "ray":
        p.mode = "ray"
    return p


def check_vllm_dp(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    """Every vLLM data/expert parallel check for one group, each with its row."""
    servers = [s for s in shape.stacks if s.find("vllm")]
    leader = shape.leader
    s0 = leader if leader is not None and leader.find("vllm") else servers[0]
    pods = [_dp_pod(gi, s, s.find("vllm")) for s in servers]
    p0 = next(p for p in pods if p.s is s0)
    out: list[Finding] = [check_world(gi, s0, p0.launch, shape)]
    out += _dp_size(gi, pods)
    out += _dp_mode(gi, pods, lws.size)
    ray_dp = p0.mode == "ray"
    missing = [s for s in shape.stacks if not s.find("vllm")]
    if not ray_dp:
        for s in missing:
            out.append(Finding(gi, "dp-ranks", FAIL, f"the {s.role} runs no vLLM engine: the data-parallel group "
                               "waits for it", template=s.role, pod=s.name, flag="vllm serve",
                               expected="vllm serve on every pod", actual="<none>"))
    out += _dp_local_gpus(gi, pods, ray_dp)
    out += _dp_ranks(gi, pods, ray_dp)
    out += _dp_address(lws, gi, pods, ray_dp)
    out += _dp_rpc_port(gi, pods, ray_dp)
    out += _expert_parallel(gi, pods)
    out += _headless(gi, pods, ray_dp, lws.size)
    if lws.size > 1 and any(p.nnodes > 1 for p in pods):
        out += check_rendezvous(lws, gi, shape, "vllm", ("nnodes",), ("node-rank",), ("master-addr",))
    unknown_flags = sorted({f.name for p in pods for key, f in p.launch.flags.items()
                            if key.startswith("data-parallel-") and key not in VLLM_DP_FLAGS})
    if unknown_flags:
        out.append(Finding(gi, "dp-flags", INFO, f"flags these checks do not know: {', '.join(unknown_flags)} "
                           "(the checks above assume vLLM's documented meaning of the others)",
                           flag=", ".join(unknown_flags)))
    return out


def _by_value(pods: list[DPPod], value) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for p in pods:
        seen.setdefault(value(p), []).append(p.s.name)
    return seen


def _detail(seen: dict[str, list[str]]) -> str:
    return "; ".join(f"{', '.join(pods)}: {v}" for v, pods in seen.items())


def _dp_size(gi: int, pods: list[DPPod]) -> list[Finding]:
    """Every engine must agree on DP, TP and PP (they build one world)."""
    unknown = [p.unknown[n] for p in pods for n in ("data-parallel-size", "tensor-parallel-size",
                                                      "pipeline-parallel-size") if n in p.unknown]
    if unknown:
        f = unknown[0]
        return [Finding(gi, "dp-size", INFO, f.message, template=f.template, pod=f.pod, flag=f.flag, actual=f.actual)]
    seen = _by_value(pods, lambda p: f"DP {p.dp} x TP {p.tp} x PP {p.pp}")
    if len(seen) > 1:
        return [Finding(gi, "dp-size", FAIL, f"the pods disagree on the parallel layout ({_detail(seen)})",
                        pod=", ".join(p.s.name for p in pods), flag="--data-parallel-size",
                        expected="the same on every pod", actual=", ".join(seen))]
    return [Finding(gi, "dp-size", PASS, f"{next(iter(seen))} on all {len(pods)} pods", flag="--data-parallel-size",
                    actual=next(iter(seen)))]


def _dp_mode(gi: int, pods: list[DPPod], size: int) -> list[Finding]:
    out = [f for p in pods for f in p.problems]
    seen = _by_value(pods, lambda p: p.mode)
    if len(seen) > 1 and size > 1:
        out.append(Finding(gi, "dp-mode", FAIL, f"the pods use different load-balancing modes ({_detail(seen)}): "
                           "a pod with --data-parallel-start-rank and without --headless runs hybrid",
                           pod=", ".join(p.s.name for p in pods), flag="--data-parallel-hybrid-lb / --headless",
                           expected="one mode", actual=", ".join(seen)))
    if not out:
        mode = next(iter(seen))
        what = {"internal": "internal load balancing: the leader serves, the other pods run engines only",
                "hybrid": "hybrid load balancing: every pod serves its own engines",
                "external": "external load balancing: one engine and endpoint per rank",
                "multi-port": "multi-port external load balancing: one endpoint per local rank",
                "ray": "Ray places the DP ranks (--data-parallel-backend ray)"}[mode]
        out.append(Finding(gi, "dp-mode", PASS, what, actual=mode))
    return out


def _dp_local_gpus(gi: int, pods: list[DPPod], ray_dp: bool) -> list[Finding]:
    """DP-local x TP x PP GPUs per pod."""
    if ray_dp:
        return [Finding(gi, "dp-local-gpus", INFO, "not checked: Ray places the DP ranks on the group's GPUs",
                        flag="--data-parallel-backend", actual="ray")]
    out: list[Finding] = []
    for p in pods:
        if None in (p.local, p.tp, p.pp):
            flag = vflag(p.launch, "data-parallel-size-local")
            if flag is not None and flag.unresolved:
                out.append(not_evaluated(gi, "dp-local-gpus", p.s, flag))
            else:
                out.append(Finding(gi, "dp-local-gpus", INFO, "not checked: the pod's DP-local size is unknown (see "
                                   "dp-ranks)", template=p.s.role, pod=p.s.name, flag="--data-parallel-size-local"))
            continue
        need = p.local * p.tp * p.pp
        actual = f"{p.local} x {p.tp}" + (f" x {p.pp}" if p.pp != 1 else "") + f" = {need}"
        flag = "--data-parallel-size-local x --tensor-parallel-size" + (" x --pipeline-parallel-size" if p.pp != 1 else "")
        gpus = int(p.s.gpus) if float(p.s.gpus).is_integer() else p.s.gpus
        if need > p.s.gpus and p.local > 0:
            spans = " (one engine spans pods: that needs Ray or --nnodes)" if p.tp * p.pp > p.s.gpus else ""
            out.append(Finding(gi, "dp-local-gpus", FAIL, f"pod {p.s.name} runs {p.local} DP ranks x TP {p.tp}"
                               + (f" x PP {p.pp}" if p.pp != 1 else "") + f" = {need} GPUs, it has {gpus}{spans}",
                               template=p.s.role, pod=p.s.name, flag=flag, expected=str(gpus), actual=actual))
        elif need < p.s.gpus:
            out.append(Finding(gi, "dp-local-gpus", WARN, f"pod {p.s.name} uses {need} of its {gpus} GPUs: the rest "
                               "stay idle", template=p.s.role, pod=p.s.name, flag=flag, expected=str(gpus),
                               actual=actual))
        else:
            out.append(Finding(gi, "dp-local-gpus", PASS, f"{actual} GPUs", template=p.s.role, pod=p.s.name,
                               flag=flag, expected=str(gpus), actual=actual))
    return out


def _rank_text(r: range) -> str:
    return str(r.start) if len(r) == 1 else f"{r.start}-{r.stop - 1}"


def _dp_ranks(gi: int, pods: list[DPPod], ray_dp: bool) -> list[Finding]:
    """The ranks of all pods partition [0, DP): overlaps, holes and ranks beyond DP, by pod."""
    if ray_dp:
        return [Finding(gi, "dp-ranks", INFO, "not checked: Ray places the DP ranks (--data-parallel-backend ray)",
                        flag="--data-parallel-backend", actual="ray")]
    unknown = [f for p in pods for f in p.unknown.values()]
    if unknown:
        return unknown[:1]
    dp = pods[0].dp or 1
    out: list[Finding] = []
    owner: dict[int, DPPod] = {}
    clashes: dict[tuple[str, str], list[int]] = {}
    for p in pods:
        claims = p.claims
        if claims is None or len(claims) == 0:
            continue
        beyond = [r for r in claims if r >= dp or r < 0]
        if beyond:
            out.append(Finding(gi, "dp-ranks", FAIL, f"pod {p.s.name} claims DP ranks {_rank_text(claims)}, "
                               f"--data-parallel-size is {p.dp}", template=p.s.role, pod=p.s.name,
                               flag="--data-parallel-start-rank", expected=f"ranks within 0-{dp - 1}",
                               actual=_rank_text(claims)))
        for r in claims:
            if r in owner:
                clashes.setdefault((owner[r].s.name, p.s.name), []).append(r)
            else:
                owner[r] = p
    by_name = {p.s.name: p for p in pods}
    for (a, b), ranks_ in clashes.items():
        hint = "" if by_name[b].start_given and by_name[a].start_given else " (no --data-parallel-start-rank)"
        out.append(Finding(gi, "dp-ranks", FAIL, f"{a} and {b} both claim ranks {ranges(ranks_)}{hint}",
                           template=by_name[b].s.role, pod=f"{a}, {b}", flag="--data-parallel-start-rank",
                           expected="disjoint rank ranges", actual=ranges(ranks_)))
    holes = [r for r in range(dp) if r not in owner]
    if holes:
        out.append(Finding(gi, "dp-ranks", FAIL, f"DP ranks {ranges(holes)} are claimed by no pod: the engines wait "
                           "for them forever", flag="--data-parallel-size-local / --data-parallel-start-rank",
                           expected=f"0-{dp - 1}", actual=ranges(owner)))
    if not out:
        parts = ", ".join(f"{p.s.name} {_rank_text(p.claims)}" for p in pods if p.claims and len(p.claims))
        out.append(Finding(gi, "dp-ranks", PASS, f"ranks 0-{dp - 1} partitioned: {parts}",
                           flag="--data-parallel-start-rank", expected=f"0-{dp - 1}", actual=parts))
    return out


def _dp_address(lws: LwsView, gi: int, pods: list[DPPod], ray_dp: bool) -> list[Finding]:
    """Every engine meets the others at the leader (--data-parallel-address, else --master-addr)."""
    if ray_dp:
        return [Finding(gi, "dp-address", INFO, "not checked: with --data-parallel-backend ray the leader's own "
                        "address is used", flag="--data-parallel-backend", actual="ray")]
    if len(pods) == 1:
        return [Finding(gi, "dp-address", PASS, "one pod: the engines meet locally", pod=pods[0].s.name,
                        template=pods[0].s.role, flag="--data-parallel-address")]
    out: list[Finding] = []
    leader_ips = set()
    for p in pods:
        if p.s.role == "leader":
            leader_ips = {ip.get("ip") for ip in (p.s.pod.get("status") or {}).get("podIPs") or []} | \
                         {(p.s.pod.get("status") or {}).get("podIP")}
    for p in pods:
        f = vflag(p.launch, "data-parallel-address") or p.launch.flags.get("master-addr")
        want = leader_address(p.s, lws, gi)
        if f is None or not f.value:
            out.append(Finding(gi, "dp-address", FAIL, "--data-parallel-address is unset: vLLM uses 127.0.0.1 and "
                               "the pods never meet", template=p.s.role, pod=p.s.name, flag="--data-parallel-address",
                               expected=want, actual="<unset>"))
        elif f.unresolved:
            out.append(not_evaluated(gi, "dp-address", p.s, f))
        elif same_host(split_host_port(f.value)[0], want):
            out.append(Finding(gi, "dp-address", PASS, f"{f.name} is the leader", template=p.s.role, pod=p.s.name,
                               flag=f.name, expected=want, actual=shown_flag(f)))
        elif f.value in leader_ips:
            out.append(Finding(gi, "dp-address", WARN, f"{f.name} is the leader's current IP: wrong once the leader "
                               "is recreated (use $(LWS_LEADER_ADDRESS))", template=p.s.role, pod=p.s.name,
                               flag=f.name, expected=want, actual=shown_flag(f)))
        else:
            out.append(Finding(gi, "dp-address", FAIL, f"{f.name} is not this group's leader (use "
                               "$(LWS_LEADER_ADDRESS))", template=p.s.role, pod=p.s.name, flag=f.name, expected=want,
                               actual=shown_flag(f)))
    return out


def _dp_rpc_port(gi: int, pods: list[DPPod], ray_dp: bool) -> list[Finding]:
    if ray_dp:
        return [Finding(gi, "dp-rpc-port", INFO, "not checked: not used with --data-parallel-backend ray",
                        flag="--data-parallel-backend", actual="ray")]

    def port(p: DPPod) -> str:
        f = vflag(p.launch, "data-parallel-rpc-port")
        return f"{VLLM_RPC_PORT} (default)" if f is None else shown_flag(f)

    seen = _by_value(pods, port)
    if len(seen) > 1:
        return [Finding(gi, "dp-rpc-port", FAIL, f"the pods use different --data-parallel-rpc-port ({_detail(seen)}): "
                        "the engines never meet", pod=", ".join(p.s.name for p in pods), flag="--data-parallel-rpc-port",
                        expected="one port", actual=", ".join(seen))]
    return [Finding(gi, "dp-rpc-port", PASS, f"{next(iter(seen))} on every pod", flag="--data-parallel-rpc-port",
                    actual=next(iter(seen)))]


def _expert_parallel(gi: int, pods: list[DPPod]) -> list[Finding]:
    """--enable-expert-parallel on all nodes or none (vLLM: "on all nodes in the multi-node case")."""
    on = [p.s.name for p in pods if p.ep]
    off = [p.s.name for p in pods if not p.ep]
    if on and off:
        return [Finding(gi, "expert-parallel", FAIL, f"--enable-expert-parallel on {', '.join(on)} but not on "
                        f"{', '.join(off)}: the expert layers cannot form one group", pod=", ".join(off),
                        flag="--enable-expert-parallel", expected="on every pod or none", actual=f"missing on {len(off)}")]
    if on:
        p = pods[0]
        size = (p.dp or 1) * (p.tp or 1)
        return [Finding(gi, "expert-parallel", PASS, f"on every pod: experts spread over EP {size} (DP x TP)",
                        flag="--enable-expert-parallel", actual="on")]
    return [Finding(gi, "expert-parallel", PASS, "off on every pod (MoE layers use tensor parallel over DP x TP)",
                    flag="--enable-expert-parallel", actual="off")]


def _headless(gi: int, pods: list[DPPod], ray_dp: bool, size: int) -> list[Finding]:
    """Internal load balancing: the leader serves, every other pod is --headless; hybrid: nobody is."""
    if size == 1 or ray_dp:
        return [Finding(gi, "headless", INFO, "not applicable: " + ("one pod" if size == 1 else
                        "--data-parallel-backend ray"), flag="--headless")]
    out: list[Finding] = []
    dp = pods[0].dp or 1
    for p in pods:
        if p.claims is not None and (p.claims.stop > dp or p.claims.start < 0):
            continue  # its ranks do not exist (dp-ranks says so): its mode is moot
        if p.s.role == "leader" and p.headless:
            out.append(Finding(gi, "headless", FAIL, "the leader is --headless: no pod serves the group's endpoint",
                               template="leader", pod=p.s.name, flag="--headless", expected="no --headless on the leader",
                               actual="--headless"))
        elif p.mode == "internal" and p.s.role == "worker" and not p.headless and (p.local or 0) > 0:
            out.append(Finding(gi, "headless", FAIL, "with internal load balancing a worker must be --headless: "
                               "without it the pod starts its own API server and claims ranks from 0",
                               template="worker", pod=p.s.name, flag="--headless", expected="--headless",
                               actual="<unset>"))
    if not out:
        modes = {p.mode for p in pods}
        out.append(Finding(gi, "headless", PASS, "workers --headless, the leader serves" if modes == {"internal"}
                           else "every pod serves its own ranks (no --headless)", flag="--headless"))
    return out


# ---- SGLang DP attention and expert parallel -------------------------------------------------------------

@dataclass
class SGLangLayout:
    tp: int | None
    pp: int | None
    dp: int | None
    ep: int | None
    dp_attention: bool
    unknown: Finding | None = None

    @property
    def key(self) -> str:
        text = f"tp {self.tp}, pp {self.pp}, dp {self.dp}, ep {self.ep}"
        return text + (", dp-attention" if self.dp_attention else "")


def sglang_layout(gi: int, s: PodStack, launch: Launch) -> SGLangLayout:
    par = parallel(launch)
    values: dict[str, int | None] = {}
    unknown = None
    for key in ("tp", "pp", "dp", "ep"):
        flag = par[key][0]
        values[key] = _value(flag)
        if flag is not None and values[key] is None and unknown is None:
            unknown = not_evaluated(gi, "tp-pp", s, flag)
    if par["ep"][0] is None and ("enable-ep-moe" in launch.flags or "enable-deepep-moe" in launch.flags):
        values["ep"] = values["tp"]  # SGLang sets ep_size = tp_size for these
    return SGLangLayout(values["tp"], values["pp"], values["dp"], values["ep"],
                        "enable-dp-attention" in launch.flags, unknown)


def check_sglang_parallel(gi: int, shape: GroupShape) -> list[Finding]:
    """World size, DP attention, expert parallel, and the same layout on every pod."""
    servers = [(s, s.find("sglang")) for s in shape.stacks if s.find("sglang")]
    leader = shape.leader
    s0, launch = next(((s, x) for s, x in servers if s is leader), servers[0])
    lay = sglang_layout(gi, s0, launch)
    out: list[Finding] = []
    if lay.unknown is not None:
        out.append(lay.unknown)
    else:
        out.append(check_world(gi, s0, launch, shape, dp_multiplies=not lay.dp_attention))
    par = parallel(launch)
    dp_text, tp_text = _text(par["dp"][0]), _text(par["tp"][0])
    if lay.unknown is not None:
        out.append(Finding(gi, "dp-attention", INFO, "not checked: a parallel size cannot be evaluated (see tp-pp)",
                           template=s0.role, pod=s0.name, flag="--enable-dp-attention"))
    elif not lay.dp_attention:
        note = f" (--dp-size {lay.dp}: {lay.dp} replicas of TP {lay.tp})" if (lay.dp or 1) > 1 else ""
        out.append(Finding(gi, "dp-attention", PASS, f"off{note}", template=s0.role, pod=s0.name,
                           flag="--enable-dp-attention", actual="off"))
    elif (lay.dp or 1) <= 1:
        out.append(Finding(gi, "dp-attention", WARN, "--enable-dp-attention with --dp-size 1: SGLang turns DP "
                           "attention off", template=s0.role, pod=s0.name, flag="--dp-size", expected="> 1",
                           actual=dp_text))
    elif (lay.tp or 1) % lay.dp:
        out.append(Finding(gi, "dp-attention", FAIL, f"--tp-size {lay.tp} is not a multiple of --dp-size {lay.dp}: "
                           "SGLang asserts tp_size % dp_size == 0", template=s0.role, pod=s0.name,
                           flag="--tp-size / --dp-size", expected=f"a divisor of {lay.tp}", actual=dp_text))
    else:
        out.append(Finding(gi, "dp-attention", PASS, f"{lay.dp} attention DP ranks over TP {lay.tp} "
                           f"({(lay.tp or 1) // lay.dp} attention TP rank(s) each)", template=s0.role, pod=s0.name,
                           flag="--dp-size", expected=f"a divisor of {tp_text}", actual=dp_text))
    if lay.unknown is not None:
        out.append(Finding(gi, "expert-parallel", INFO, "not checked: a parallel size cannot be evaluated (see tp-pp)",
                           template=s0.role, pod=s0.name, flag="--ep-size"))
    elif lay.ep is None or lay.ep == 1:
        out.append(Finding(gi, "expert-parallel", PASS, "off (--ep-size 1)", template=s0.role, pod=s0.name,
                           flag="--ep-size", actual="1"))
    elif lay.ep > (lay.tp or 1) or (lay.tp or 1) % lay.ep:
        out.append(Finding(gi, "expert-parallel", FAIL, f"--ep-size {lay.ep} does not divide --tp-size {lay.tp}: the "
                           "expert groups cannot split the TP group", template=s0.role, pod=s0.name,
                           flag="--ep-size", expected=f"a divisor of {lay.tp}", actual=str(lay.ep)))
    else:
        out.append(Finding(gi, "expert-parallel", PASS, f"EP {lay.ep} within TP {lay.tp}", template=s0.role,
                           pod=s0.name, flag="--ep-size", expected=f"a divisor of {lay.tp}", actual=str(lay.ep)))
    if len(servers) > 1:
        seen: dict[str, list[str]] = {}
        for s, x in servers:
            seen.setdefault(sglang_layout(gi, s, x).key, []).append(s.name)
        if len(seen) > 1:
            detail = "; ".join(f"{', '.join(p)}: {k}" for k, p in seen.items())
            out.append(Finding(gi, "tp-pp", FAIL, f"the pods disagree on the parallel layout ({detail})",
                               flag="--tp", expected="the same on every pod", actual=", ".join(seen)))
    return out
