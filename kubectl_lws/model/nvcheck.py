"""NVIDIA NIM multi-node and TensorRT-LLM, checked from the pod specs with the same static rules as vLLM
and SGLang: the parallel layout against the group's GPUs, each pod's role, the rendezvous.

Pure functions. What they rely on, from the sources:

- NIM (NVIDIA's nim-deploy Helm chart ``multi_node_deployment.yaml`` and the NIM operator's
  ``GetLWSLeaderEnv``/``GetLWSWorkerEnv``): the leader and the workers run the same image; the role comes
  from ``NIM_LEADER_ROLE`` (1 on the leader, 0 on workers); ``NIM_NUM_COMPUTE_NODES`` is the group size;
  ``NIM_NODE_RANK`` the pod's worker index; ``NIM_TENSOR_PARALLEL_SIZE`` x ``NIM_PIPELINE_PARALLEL_SIZE`` the
  GPUs of the group; ``GPUS_PER_NODE`` the GPUs of a pod. The chart's MPI shape starts ``mpirun -n
  GPUS_PER_NODE*WORKERS --hostfile /etc/mpi/hostfile-$GROUP_INDEX`` in the leader and ``sshd`` in every
  worker. It serves on ``NIM_SERVER_PORT`` (8000) with ``/v1/health/ready``.
- TensorRT-LLM as LWS's own example runs it (``docs/examples/tensorrt-llm``: ``server.py leader|worker``):
  the leader needs ``--gpu_per_node`` and ``--stateful_set_group_key`` (the group-key label), waits until
  ``tp x pp / gpu_per_node`` pods with that key are Running in ``--namespace`` (default ``default``), then
  mpiruns one rank per GPU over them; workers wait. Triton serves HTTP on 8000 (``/v2/health/ready``).
- ``trtllm-serve MODEL --tp_size --pp_size --ep_size --host --port`` (TensorRT-LLM's OpenAI server: host
  ``localhost`` and port 8000 by default, ``/health`` and ``/v1/models``), under ``mpirun`` across pods.
"""

from __future__ import annotations

from kubectl_lws.model import keys
from kubectl_lws.model.cmdline import Flag, first_flag
from kubectl_lws.model.groups import LwsView, labels
from kubectl_lws.model.launches import (FAIL, INFO, NIM_DEFAULT_PORT, PASS, WARN, Finding, GroupShape, PodStack,
                                        flag_int, fmt, not_evaluated, shown_flag, world_finding)

NIM_AGREE = ("NIM_TENSOR_PARALLEL_SIZE", "NIM_PIPELINE_PARALLEL_SIZE", "NIM_NUM_COMPUTE_NODES", "NIM_MODEL_PROFILE",
             "NIM_MULTI_NODE", "NIM_MODEL_NAME", "NIM_SERVED_MODEL_NAME", "NIM_USE_SGLANG")


def _env_int(s: PodStack, name: str) -> tuple[int | None, str]:
    """(int value or None, text for messages) of an env variable of the pod's NIM container."""
    value = s.env.get(name)
    if value is None:
        return None, "<unset>" if name not in s.env else f"<{s.whys.get(name, 'no static value')}>"
    try:
        return int(value), value
    except ValueError:
        return None, value


# ---- NIM ------------------------------------------------------------------------------------------------

def check_nim(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    """Every NIM multi-node check for one group, each with its row."""
    nims = [s for s in shape.stacks if s.nim]
    out: list[Finding] = []
    out += _nim_role(gi, shape, nims)
    out += _nim_per_pod(gi, nims, "nim-nodes", "NIM_NUM_COMPUTE_NODES", lambda s: str(lws.size),
                        "the group's size (LWS size)")
    out += _nim_per_pod(gi, nims, "nim-node-rank", "NIM_NODE_RANK", lambda s: str(s.worker_index),
                        "the pod's LWS_WORKER_INDEX")
    out += _nim_world(gi, shape, nims)
    out += _nim_gpus_per_node(gi, nims)
    out += _nim_agree(gi, nims)
    out += _nim_mpi(gi, shape)
    return out


def _nim_role(gi: int, shape: GroupShape, nims: list[PodStack]) -> list[Finding]:
    if not any("NIM_LEADER_ROLE" in s.env for s in nims):
        return [Finding(gi, "nim-role", INFO, "not checked: NIM_LEADER_ROLE is not set (the roles come from the "
                        "commands: see mpi)", flag="NIM_LEADER_ROLE")]
    out: list[Finding] = []
    for s in nims:
        want = "1" if s.role == "leader" else "0"
        got = s.env.get("NIM_LEADER_ROLE")
        if got != want:
            what = "the leader would run as a worker: nothing serves" if s.role == "leader" else \
                "a worker would start a second leader"
            out.append(Finding(gi, "nim-role", FAIL, f"NIM_LEADER_ROLE must be {want} on the {s.role}: {what}",
                               template=s.role, pod=s.name, flag="NIM_LEADER_ROLE", expected=want,
                               actual=got if got is not None else "<unset>"))
    if not out:
        out.append(Finding(gi, "nim-role", PASS, f"1 on the leader, 0 on {len(nims) - 1} worker(s)",
                           flag="NIM_LEADER_ROLE"))
    return out


def _nim_per_pod(gi: int, nims: list[PodStack], check: str, var: str, want, what: str) -> list[Finding]:
    if not any(var in s.env for s in nims):
        return [Finding(gi, check, INFO, f"not checked: {var} is not set", flag=var)]
    out: list[Finding] = []
    for s in nims:
        value, text = _env_int(s, var)
        if var in s.env and s.env[var] is None:
            out.append(Finding(gi, check, INFO, f"not checked: {var} {s.whys.get(var, 'has no static value')}",
                               template=s.role, pod=s.name, flag=var))
        elif str(value) != want(s):
            out.append(Finding(gi, check, FAIL, f"{var} must be {what}", template=s.role, pod=s.name, flag=var,
                               expected=want(s), actual=text))
    if not out:
        out.append(Finding(gi, check, PASS, f"{var} is {what} on all {len(nims)} pods", flag=var))
    return out


def _nim_world(gi: int, shape: GroupShape, nims: list[PodStack]) -> list[Finding]:
    s0 = shape.leader if shape.leader in nims else nims[0]
    mpi = s0.find("mpirun")
    tp, tp_text = _env_int(s0, "NIM_TENSOR_PARALLEL_SIZE")
    pp, pp_text = _env_int(s0, "NIM_PIPELINE_PARALLEL_SIZE")
    if "NIM_TENSOR_PARALLEL_SIZE" in s0.env or "NIM_PIPELINE_PARALLEL_SIZE" in s0.env:
        if (tp is None and "NIM_TENSOR_PARALLEL_SIZE" in s0.env) or (pp is None and "NIM_PIPELINE_PARALLEL_SIZE"
                                                                    in s0.env):
            return [Finding(gi, "tp-pp", INFO, f"not checked: NIM_TENSOR_PARALLEL_SIZE={tp_text}, "
                            f"NIM_PIPELINE_PARALLEL_SIZE={pp_text} are not numbers known from the spec",
                            template=s0.role, pod=s0.name, flag="NIM_TENSOR_PARALLEL_SIZE")]
        tp, pp = tp or 1, pp or 1
        return [world_finding(gi, s0, tp * pp, f"{tp} x {pp} = {tp * pp}",
                              "NIM_TENSOR_PARALLEL_SIZE x NIM_PIPELINE_PARALLEL_SIZE", shape)]
    flag = (mpi.flags.get("n") or mpi.flags.get("np")) if mpi is not None else None
    if flag is not None:
        ranks, _ = flag_int(flag, 1)
        if ranks is None:
            return [not_evaluated(gi, "tp-pp", s0, flag)]
        return [world_finding(gi, s0, ranks, f"{ranks} MPI ranks", f"mpirun {flag.name}", shape)]
    return [Finding(gi, "tp-pp", INFO, "not checked: no parallel layout in the spec (the NIM profile decides: "
                    f"NIM_MODEL_PROFILE={s0.env.get('NIM_MODEL_PROFILE') or '<unset>'})", template=s0.role,
                    pod=s0.name, flag="NIM_TENSOR_PARALLEL_SIZE")]


def _nim_gpus_per_node(gi: int, nims: list[PodStack]) -> list[Finding]:
    pods = [s for s in nims if "GPUS_PER_NODE" in s.env]
    if not pods:
        return [Finding(gi, "nim-gpus-per-node", INFO, "not checked: GPUS_PER_NODE is not set", flag="GPUS_PER_NODE")]
    out: list[Finding] = []
    for s in pods:
        value, text = _env_int(s, "GPUS_PER_NODE")
        if value != s.gpus:
            out.append(Finding(gi, "nim-gpus-per-node", FAIL, f"GPUS_PER_NODE is {text} but the pod requests "
                               f"{fmt(s.gpus)} GPUs: MPI starts ranks for GPUs the pod does not have",
                               template=s.role, pod=s.name, flag="GPUS_PER_NODE", expected=fmt(s.gpus), actual=text))
        else:
            out.append(Finding(gi, "nim-gpus-per-node", PASS, f"GPUS_PER_NODE={text} = the pod's GPUs",
                               template=s.role, pod=s.name, flag="GPUS_PER_NODE", expected=fmt(s.gpus), actual=text))
    return out


def _nim_agree(gi: int, nims: list[PodStack]) -> list[Finding]:
    out: list[Finding] = []
    checked = []
    for var in NIM_AGREE:
        values: dict[str, list[str]] = {}
        for s in nims:
            value = s.env.get(var)
            key = "<unset>" if var not in s.env else value if value is not None else f"<{s.whys.get(var, 'valueFrom')}>"
            values.setdefault(key, []).append(s.name)
        if len(values) > 1:
            detail = "; ".join(f"{', '.join(p)}: {v}" for v, p in values.items())
            out.append(Finding(gi, "nim-env", FAIL, f"{var} differs across the group ({detail}): every node must "
                               "load the same model profile and layout", pod=", ".join(p for ps in values.values()
                                                                                       for p in ps),
                               flag=var, expected="the same on every pod", actual=", ".join(values)))
        elif next(iter(values)) != "<unset>":
            checked.append(var)
    if not out:
        out.append(Finding(gi, "nim-env", PASS, f"{', '.join(checked) or 'no NIM layout variables'} identical on all "
                           f"{len(nims)} pods", flag=", ".join(checked)))
    return out


def _nim_mpi(gi: int, shape: GroupShape) -> list[Finding]:
    """The nim-deploy chart's MPI shape: mpirun with this group's hostfile in the leader, sshd in workers."""
    leader = shape.leader
    mpi = leader.find("mpirun") if leader else None
    if mpi is None:
        return [Finding(gi, "mpi", INFO, "not checked: the leader starts no mpirun in its command (the NIM image "
                        "starts the ranks from its env)", template="leader", pod=leader.name if leader else "",
                        flag="command")]
    out: list[Finding] = []
    hostfile = mpi.flags.get("hostfile") or mpi.flags.get("machinefile")
    if hostfile is None:
        out.append(Finding(gi, "mpi", WARN, "mpirun without --hostfile: it starts every rank in the leader",
                           template="leader", pod=leader.name, flag="--hostfile", expected=f"hostfile-{gi}",
                           actual="<unset>"))
    elif hostfile.unresolved:
        out.append(not_evaluated(gi, "mpi", leader, hostfile))
    elif hostfile.value and hostfile.value.rsplit("-", 1)[-1].isdigit() and hostfile.value.rsplit("-", 1)[-1] != str(gi):
        out.append(Finding(gi, "mpi", FAIL, f"the leader of group {gi} reads another group's hostfile: its ranks "
                           "start on that group's pods", template="leader", pod=leader.name, flag="--hostfile",
                           expected=f"...hostfile-{gi}", actual=shown_flag(hostfile)))
    for w in shape.workers:
        if w.find("sshd") is None:
            out.append(Finding(gi, "mpi", FAIL, "the worker runs no sshd: the leader's mpirun cannot start ranks on "
                               "it", template="worker", pod=w.name, flag="command", expected="sshd",
                               actual=w.launches[0].text[:80] if w.launches else "<no recognised command>"))
    if not out:
        out.append(Finding(gi, "mpi", PASS, f"mpirun in the leader ({shown_flag(hostfile)}), sshd in "
                           f"{len(shape.workers)} worker(s)", template="leader", pod=leader.name, flag="--hostfile"))
    return out


# ---- TensorRT-LLM -----------------------------------------------------------------------------------------

def check_trtllm(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    if any(s.find("trtllm-leader", "trtllm-worker") for s in shape.stacks):
        return _triton_example(lws, gi, shape)
    return _trtllm_serve(lws, gi, shape)


def _tflag(flags: dict[str, Flag], *names: str) -> Flag | None:
    return first_flag(flags, *[n.replace("_", "-") for n in names])


def _tp_pp(gi: int, s: PodStack, flags: dict[str, Flag], tp_name: str, pp_name: str,
           shape: GroupShape) -> tuple[int | None, int | None, Finding]:
    """(TP, PP, the tp-pp row) of a TensorRT-LLM launch."""
    tp_f, pp_f = _tflag(flags, tp_name), _tflag(flags, pp_name)
    tp, _ = flag_int(tp_f, 1)
    pp, _ = flag_int(pp_f, 1)
    if tp is None or pp is None:
        return tp, pp, not_evaluated(gi, "tp-pp", s, tp_f if tp is None else pp_f)
    return tp, pp, world_finding(gi, s, tp * pp, f"{tp} x {pp} = {tp * pp}", f"--{tp_name} x --{pp_name}", shape)


def _triton_example(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    """LWS's TensorRT-LLM example: ``server.py leader`` mpiruns over ``tp x pp / gpu_per_node`` pods."""
    leader = shape.leader
    lead = leader.find("trtllm-leader") if leader else None
    out: list[Finding] = []
    if leader is None or lead is None:
        s = leader or shape.stacks[0]
        return [Finding(gi, "trtllm-role", FAIL, "the leader does not run server.py leader: nobody starts the "
                        "ranks", template="leader", pod=s.name, flag="server.py leader",
                        expected="server.py leader", actual=s.launches[0].text[:80] if s.launches else "<none>")]
    tp, pp, world = _tp_pp(gi, leader, lead.flags, "tp", "pp", shape)
    out.append(world)
    gpn_f = _tflag(lead.flags, "gpu_per_node")
    gpn, _ = flag_int(gpn_f, 0)
    if gpn_f is None:
        out.append(Finding(gi, "trtllm-gpus-per-node", FAIL, "server.py leader needs --gpu_per_node (it exits: "
                           "\"--gpu_per_node is required for leader mode\")", template="leader", pod=leader.name,
                           flag="--gpu_per_node", expected=fmt(leader.gpus), actual="<unset>"))
    elif gpn is None:
        out.append(not_evaluated(gi, "trtllm-gpus-per-node", leader, gpn_f))
    elif gpn != leader.gpus:
        out.append(Finding(gi, "trtllm-gpus-per-node", FAIL, f"--gpu_per_node {gpn} but the pod requests "
                           f"{fmt(leader.gpus)} GPUs: mpirun places {gpn} ranks on each pod", template="leader",
                           pod=leader.name, flag=gpn_f.name, expected=fmt(leader.gpus), actual=shown_flag(gpn_f)))
    else:
        out.append(Finding(gi, "trtllm-gpus-per-node", PASS, f"--gpu_per_node {gpn} = the pod's GPUs",
                           template="leader", pod=leader.name, flag=gpn_f.name, expected=fmt(leader.gpus),
                           actual=shown_flag(gpn_f)))
    if tp is None or pp is None or not gpn:
        out.append(Finding(gi, "trtllm-world", INFO, "not checked: --tp, --pp or --gpu_per_node is unknown",
                           template="leader", pod=leader.name, flag="--tp x --pp / --gpu_per_node"))
    elif (tp * pp) % gpn or (tp * pp) // gpn != lws.size:
        pods = (tp * pp) / gpn
        out.append(Finding(gi, "trtllm-world", FAIL, f"the leader waits for {pods:g} pods (TP {tp} x PP {pp} / "
                           f"{gpn} GPUs per pod), the group has {lws.size}: it never starts (or exits: "
                           f"\"{lws.size} found, expected {pods:g}\")", template="leader", pod=leader.name,
                           flag="--tp x --pp / --gpu_per_node", expected=str(lws.size), actual=f"{pods:g}"))
    else:
        out.append(Finding(gi, "trtllm-world", PASS, f"TP {tp} x PP {pp} / {gpn} GPUs per pod = {lws.size} pods",
                           template="leader", pod=leader.name, flag="--tp x --pp / --gpu_per_node",
                           expected=str(lws.size), actual=str(lws.size)))
    key_f = _tflag(lead.flags, "stateful_set_group_key")
    want = labels(leader.pod).get(keys.GROUP_KEY_LABEL, "")
    if key_f is None or not key_f.value:
        out.append(Finding(gi, "trtllm-group-key", FAIL, "server.py leader needs --stateful_set_group_key (the "
                           "group-key label: it finds its workers by it)", template="leader", pod=leader.name,
                           flag="--stateful_set_group_key", expected=want or "the group-key label", actual="<unset>"))
    elif key_f.unresolved:
        out.append(not_evaluated(gi, "trtllm-group-key", leader, key_f))
    elif want and key_f.value != want:
        out.append(Finding(gi, "trtllm-group-key", FAIL, "--stateful_set_group_key is not this group's group-key "
                           "label: the leader waits for pods that never come", template="leader", pod=leader.name,
                           flag=key_f.name, expected=want, actual=shown_flag(key_f)))
    else:
        out.append(Finding(gi, "trtllm-group-key", PASS, "the group's group-key label", template="leader",
                           pod=leader.name, flag=key_f.name, expected=want, actual=shown_flag(key_f)))
    ns_f = _tflag(lead.flags, "namespace")
    ns = (leader.pod.get("metadata") or {}).get("namespace") or lws.namespace
    got = ns_f.value if ns_f is not None else "default"
    if ns_f is not None and ns_f.unresolved:
        out.append(not_evaluated(gi, "trtllm-namespace", leader, ns_f))
    elif got != ns:
        out.append(Finding(gi, "trtllm-namespace", FAIL, f"the leader lists its workers in namespace {got}, the "
                           f"pods are in {ns}: it waits forever", template="leader", pod=leader.name,
                           flag="--namespace", expected=ns, actual=shown_flag(ns_f) if ns_f else "default (default)"))
    else:
        out.append(Finding(gi, "trtllm-namespace", PASS, f"the leader lists pods in {ns}", template="leader",
                           pod=leader.name, flag="--namespace", expected=ns, actual=got))
    bad_workers = []
    for w in shape.workers:
        if w.find("trtllm-worker") is None:
            bad_workers.append(w)
            out.append(Finding(gi, "trtllm-role", FAIL, "the worker does not run server.py worker: mpirun's ranks "
                               "have no pod to run in", template="worker", pod=w.name, flag="server.py worker",
                               expected="server.py worker",
                               actual=w.launches[0].text[:80] if w.launches else "<none>"))
    if not bad_workers:
        out.append(Finding(gi, "trtllm-role", PASS, f"server.py leader in the leader, worker in {len(shape.workers)} "
                           "pod(s)", template="leader", pod=leader.name, flag="server.py"))
    missing = [s.name for s in shape.stacks for launch in s.launches if launch.kind.startswith("trtllm-")
               and _tflag(launch.flags, "triton_model_repo_dir") is None]
    if missing:
        out.append(Finding(gi, "trtllm-model-repo", FAIL, "server.py requires --triton_model_repo_dir (argparse "
                           f"exits without it): {', '.join(missing)}", pod=", ".join(missing),
                           flag="--triton_model_repo_dir", expected="a directory", actual="<unset>"))
    else:
        out.append(Finding(gi, "trtllm-model-repo", PASS, "--triton_model_repo_dir on every pod",
                           flag="--triton_model_repo_dir"))
    return out


def _trtllm_serve(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    """``trtllm-serve`` (under ``mpirun`` when it spans pods)."""
    leader = shape.leader
    s0 = leader if leader is not None and leader.find("trtllm-serve") else \
        next(s for s in shape.stacks if s.find("trtllm-serve"))
    launch = s0.find("trtllm-serve")
    out: list[Finding] = []
    ep_f = _tflag(launch.flags, "ep_size")
    ep, _ = flag_int(ep_f, 1)
    tp, pp, world = _tp_pp(gi, s0, launch.flags, "tp_size", "pp_size", shape)
    out.append(world)
    if tp is not None and pp is not None:
        mpi = s0.find("mpirun")
        n_f = (mpi.flags.get("n") or mpi.flags.get("np")) if mpi else None
        if mpi is not None and n_f is not None:
            n, _ = flag_int(n_f, 1)
            if n is not None and n != tp * pp:
                out.append(Finding(gi, "tp-pp", FAIL, f"mpirun starts {n} ranks, trtllm-serve needs TP x PP = "
                                   f"{tp * pp}", template=s0.role, pod=s0.name, flag=f"mpirun {n_f.name}",
                                   expected=str(tp * pp), actual=shown_flag(n_f)))
        elif tp * pp > s0.gpus and lws.size > 1:
            out.append(Finding(gi, "tp-pp", FAIL, f"TP x PP = {tp * pp} is more than the pod's {fmt(s0.gpus)} GPUs "
                               "and no mpirun starts ranks on the other pods", template=s0.role, pod=s0.name,
                               flag="mpirun", expected="mpirun -n TP x PP over the group", actual="<none>"))
    if ep is None:
        out.append(not_evaluated(gi, "expert-parallel", s0, ep_f))
    elif tp and (ep > tp or tp % ep):
        out.append(Finding(gi, "expert-parallel", FAIL, f"--ep_size {ep} does not divide --tp_size {tp}",
                           template=s0.role, pod=s0.name, flag="--ep_size", expected=f"a divisor of {tp}",
                           actual=str(ep)))
    else:
        out.append(Finding(gi, "expert-parallel", PASS, f"EP {ep} within TP {tp}" if ep > 1 else "off",
                           template=s0.role, pod=s0.name, flag="--ep_size", actual=str(ep)))
    host = launch.flags.get("host")
    if host is None or host.value in ("localhost", "127.0.0.1"):
        out.append(Finding(gi, "serving-host", WARN, "trtllm-serve binds localhost (its default): Services and "
                           "probes from outside the pod cannot reach it (use --host 0.0.0.0)", template=s0.role,
                           pod=s0.name, flag="--host", expected="0.0.0.0",
                           actual=shown_flag(host) if host else "localhost (default)"))
    else:
        out.append(Finding(gi, "serving-host", PASS, f"binds {host.value}", template=s0.role, pod=s0.name,
                           flag="--host", actual=shown_flag(host)))
    return out


def nim_port(s: PodStack) -> int | None:
    """NIM's serving port: NIM_SERVER_PORT (the chart), else NIM_HTTP_API_PORT, else 8000."""
    for var in ("NIM_SERVER_PORT", "NIM_HTTP_API_PORT"):
        value = s.env.get(var)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return NIM_DEFAULT_PORT

