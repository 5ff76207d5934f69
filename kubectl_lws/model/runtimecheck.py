"""Is the serving stack of each group wired right? vLLM, SGLang and Ray, from the pod specs and from
what ``ray`` and the server answer inside the leader.

Pure functions over pod/Service dicts and probe output. A group whose pods are Ready can still serve
nothing: a worker that never joins the leader's Ray cluster, ``--tensor-parallel-size`` x
``--pipeline-parallel-size`` that does not match the group's GPUs, SGLang's ``--nnodes`` not equal to the
LWS size, a ``--node-rank`` not taken from ``LWS_WORKER_INDEX``, a ``--dist-init-addr`` that is not the
leader, a Service aimed at the wrong port. Every finding names the template (leader/worker), the flag,
the expected and the actual value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from kubectl_lws.model import keys
from kubectl_lws.model.cmdline import (Flag, Word, container_commands, container_literal_env, first_flag,
                                       parse_flags, split_host_port)
from kubectl_lws.model.groups import Group, LwsView, labels, pod_name, worker_index

PASS, INFO, WARN, FAIL = "PASS", "INFO", "WARN", "FAIL"
SEVERITY = {PASS: 0, INFO: 0, WARN: 1, FAIL: 2}
ACCELERATORS = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu")
RAY_DEFAULT_PORT = 6379
VLLM_DEFAULT_PORT = 8000
SGLANG_DEFAULT_PORT = 30000
MNS = "multi-node-serving.sh"
NOT_RECOGNISED = "not recognised: only static env checks apply (see verify env)"

_RAY_BOOL = frozenset({"head", "block", "disable-usage-stats", "include-log-monitor", "verbose"})
_VLLM_BOOL = frozenset({"trust-remote-code", "enforce-eager", "headless", "disable-log-requests",
                        "disable-log-stats", "enable-prefix-caching", "enable-chunked-prefill",
                        "enable-expert-parallel", "enable-auto-tool-choice", "disable-custom-all-reduce"})
_SGLANG_BOOL = frozenset({"trust-remote-code", "enable-dp-attention", "disable-cuda-graph", "enable-torch-compile",
                          "enable-metrics", "skip-tokenizer-init", "disable-radix-cache"})


@dataclass
class Finding:
    """One runtime check result: ``template`` is leader/worker, ``flag`` the command-line flag."""

    group: int | None
    check: str
    status: str
    message: str
    template: str = ""
    pod: str = ""
    flag: str = ""
    expected: str | None = None
    actual: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.group, "check": self.check, "status": self.status,
                               "message": self.message}
        for key in ("template", "pod", "flag"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.expected is not None:
            out["expected"] = self.expected
        if self.actual is not None:
            out["actual"] = self.actual
        return out


def worst(findings: Iterable[Finding]) -> str:
    status = PASS
    for f in findings:
        if SEVERITY[f.status] > SEVERITY[status]:
            status = f.status
    return status


# ---- recognising launches ----------------------------------------------------------------------------

@dataclass
class Launch:
    """One recognised program: ``kind`` vllm | sglang | ray-head | ray-worker | mns-leader | mns-worker."""

    kind: str
    argv: list[Word]
    flags: dict[str, Flag]
    positional: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(w.value for w in self.argv)


def _python_module(words: list[Word]) -> tuple[str, list[Word]] | None:
    """``python3 [-u ...] -m MODULE args`` -> (MODULE, args)."""
    if not words or not re.match(r"^python(\d(\.\d+)?)?$", words[0].value.rsplit("/", 1)[-1]):
        return None
    i = 1
    while i < len(words) and words[i].value.startswith("-"):
        if words[i].value == "-m" and i + 1 < len(words):
            return words[i + 1].value, words[i + 2:]
        if words[i].value.startswith("-m") and len(words[i].value) > 2:
            return words[i].value[2:], words[i + 1:]
        i += 1
    return None


def recognise(words: list[Word]) -> Launch | None:
    """The launch a simple command is, or None."""
    if not words:
        return None
    prog = words[0].value.rsplit("/", 1)[-1]
    args = words[1:]
    if prog in ("bash", "sh") and args and args[0].value.rsplit("/", 1)[-1] == MNS:
        prog, args = MNS, args[1:]
    if prog == MNS:
        role = args[0].value if args else ""
        flags, pos = parse_flags(args[1:], frozenset())
        if role in ("leader", "worker"):
            return Launch(f"mns-{role}", words, flags, pos)
        return None
    if prog == "vllm" and args and args[0].value == "serve":
        flags, pos = parse_flags(args[1:], _VLLM_BOOL)
        return Launch("vllm", words, flags, pos)
    if prog == "ray" and args and args[0].value == "start":
        flags, pos = parse_flags(args[1:], _RAY_BOOL)
        if "head" in flags:
            return Launch("ray-head", words, flags, pos)
        if "address" in flags:
            return Launch("ray-worker", words, flags, pos)
        return Launch("ray-worker", words, flags, pos)  # no --address: reported by the checks
    mod = _python_module(words)
    if mod:
        module, rest = mod
        if module in ("vllm.entrypoints.openai.api_server", "vllm.entrypoints.api_server"):
            flags, pos = parse_flags(rest, _VLLM_BOOL)
            return Launch("vllm", words, flags, pos)
        if module == "vllm.entrypoints.cli.main" and rest and rest[0].value == "serve":
            flags, pos = parse_flags(rest[1:], _VLLM_BOOL)
            return Launch("vllm", words, flags, pos)
        if module in ("sglang.launch_server", "sglang.launch_server_multi_node"):
            flags, pos = parse_flags(rest, _SGLANG_BOOL)
            return Launch("sglang", words, flags, pos)
    return None


@dataclass
class PodStack:
    """What one pod runs, as far as the checks care."""

    pod: dict
    name: str
    role: str              # "leader" | "worker"
    worker_index: int
    container: dict
    env: dict[str, str | None]
    launches: list[Launch]
    gpus: float

    def find(self, *kinds: str) -> Launch | None:
        for launch in self.launches:
            if launch.kind in kinds:
                return launch
        return None


def accelerators(container: dict) -> float:
    """GPUs/TPU chips a container asks for (limits, else requests)."""
    res = container.get("resources") or {}
    total = 0.0
    for name in set((res.get("limits") or {})) | set((res.get("requests") or {})):
        if name in ACCELERATORS or name.endswith("/gpu"):
            value = (res.get("limits") or {}).get(name, (res.get("requests") or {}).get(name))
            try:
                total += float(value)
            except (TypeError, ValueError):
                pass
    return total


def pod_gpus(pod_or_template: dict) -> float:
    return sum(accelerators(c) for c in (pod_or_template.get("spec") or {}).get("containers") or [])


_IMAGE_ENTRYPOINTS = (("vllm/vllm-openai", ["vllm", "serve"]), ("vllm-openai", ["vllm", "serve"]))


_REF = re.compile(r"\$[({]?([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=1024)
def _referenced(items: tuple[str, ...]) -> tuple[str, ...]:
    """Every variable name the command line mentions (``$(X)``, ``$X``, ``${X}``, nested quotes too)."""
    return tuple(sorted({m.group(1) for item in items for m in _REF.finditer(item)}))


_LAUNCH_CACHE: dict[tuple, list[Launch]] = {}


def container_launches(c: dict, env: dict[str, str | None]) -> list[Launch]:
    """The recognised launches of one container. Cached by the command line and the values of the
    variables it mentions: 512 leaders with the same template and LWS_GROUP_SIZE cost one parse."""
    items = tuple(str(x) for x in list(c.get("command") or []) + list(c.get("args") or []))
    values = tuple((n, env.get(n)) for n in _referenced(items))
    key = (items, bool(c.get("command")), str(c.get("image", "")), values)
    cacheable = not any(v and "$" in v for _, v in values)  # a value that expands further: no shortcut
    if cacheable and key in _LAUNCH_CACHE:
        return _LAUNCH_CACHE[key]
    commands = container_commands(c, env)
    if not c.get("command") and c.get("args"):
        image = str(c.get("image", ""))
        for marker, entry in _IMAGE_ENTRYPOINTS:
            if marker in image:  # the image's own ENTRYPOINT runs the args
                commands = [[Word(v, v) for v in entry] + [w for cmd in commands for w in cmd]]
    launches = [launch for cmd in commands if (launch := recognise(cmd)) is not None]
    if cacheable:
        if len(_LAUNCH_CACHE) > 4096:
            _LAUNCH_CACHE.clear()
        _LAUNCH_CACHE[key] = launches
    return launches


def pod_stack(pod: dict) -> PodStack:
    """Recognise what the pod's containers run; the main container is the first with a launch."""
    containers = (pod.get("spec") or {}).get("containers") or []
    chosen: tuple[dict, dict, list[Launch]] | None = None
    for c in containers:
        env = container_literal_env(c)
        launches = container_launches(c, env)
        if launches and chosen is None:
            chosen = (c, env, launches)
    if chosen is None:
        c = containers[0] if containers else {}
        chosen = (c, container_literal_env(c), [])
    wi = worker_index(pod) or 0
    return PodStack(pod, pod_name(pod), "leader" if wi == 0 else "worker", wi, chosen[0], chosen[1], chosen[2],
                    pod_gpus(pod))


# ---- static checks ---------------------------------------------------------------------------------------

def _int(flag: Flag | None, default: int) -> tuple[int | None, str]:
    """(value or None when it is not a number, text for messages)."""
    if flag is None:
        return default, f"{default} (default)"
    try:
        return int(str(flag.value)), str(flag.value)
    except (TypeError, ValueError):
        return None, str(flag.value)


def _shown(flag: Flag | None) -> str:
    """The flag's value, and where it came from when that differs (``1 (from $(LWS_WORKER_INDEX))``)."""
    if flag is None:
        return "<unset>"
    value = "<none>" if flag.value is None else flag.value
    if flag.raw and flag.raw != value:
        return f"{value} (written {flag.raw})"
    return value


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def leader_address(stack: PodStack, lws: LwsView, group_index: int) -> str:
    """LWS_LEADER_ADDRESS as the pod has it (its env), else what LWS would inject."""
    value = stack.env.get(keys.ENV_LEADER_ADDRESS)
    if value:
        return value
    sub = (stack.pod.get("spec") or {}).get("subdomain") or lws.name
    ns = (stack.pod.get("metadata") or {}).get("namespace") or lws.namespace
    return f"{lws.name}-{group_index}.{sub}.{ns}"


def _same_host(actual: str, expected: str) -> bool:
    """``vllm-0.vllm.ns`` == ``vllm-0.vllm.ns.svc.cluster.local`` (search-domain forms of one name)."""
    a, e = actual.rstrip(".").lower(), expected.rstrip(".").lower()
    if a == e:
        return True
    for suffix in (".svc", ".svc.cluster.local"):
        if a == e + suffix or e == a + suffix:
            return True
    return False


@dataclass
class GroupShape:
    """The stack the group runs, derived from its pods (and templates for missing pods)."""

    stacks: list[PodStack]
    leader: PodStack | None
    workers: list[PodStack]
    group_gpus: float
    per_pod: str   # "8 GPUs per pod x 2 pods" for messages
    kind: str      # "vllm" | "sglang" | "ray" | ""


def group_shape(lws: LwsView, group: Group) -> GroupShape:
    stacks = [pod_stack(p) for p in group.pods]
    leader = next((s for s in stacks if s.role == "leader"), None)
    workers = [s for s in stacks if s.role == "worker"]
    present = {s.worker_index for s in stacks}
    leader_gpus = leader.gpus if leader else pod_gpus(lws.leader_template())
    worker_gpus = [s.gpus for s in workers] + [pod_gpus(lws.worker_template())
                                               for w in range(1, lws.size) if w not in present]
    total = leader_gpus + sum(worker_gpus)
    if all(g == leader_gpus for g in worker_gpus):
        per_pod = f"{_fmt(leader_gpus)} per pod x {lws.size} pods"
    else:
        per_pod = f"leader {_fmt(leader_gpus)} + workers {'+'.join(_fmt(g) for g in worker_gpus)}"
    kinds = {launch.kind for s in stacks for launch in s.launches}
    kind = "vllm" if "vllm" in kinds else "sglang" if "sglang" in kinds else \
        "ray" if kinds & {"ray-head", "ray-worker", "mns-leader", "mns-worker"} else ""
    return GroupShape(stacks, leader, workers, total, per_pod, kind)


def check_group_static(lws: LwsView, group: Group, services: list[dict] | None = None,
                       shape: GroupShape | None = None) -> list[Finding]:
    """Every static runtime check for one group, in report order."""
    gi = group.index
    if not group.pods:
        return [Finding(gi, "pods", FAIL, "the group has no pods")]
    shape = shape or group_shape(lws, group)
    out: list[Finding] = []
    for s in shape.stacks:
        if not s.launches:
            ran = " ".join(str(x) for x in list(s.container.get("command") or []) + list(s.container.get("args") or []))
            out.append(Finding(gi, "recognise", INFO, NOT_RECOGNISED, template=s.role, pod=s.name, flag="command",
                               expected="vllm serve | python3 -m vllm.entrypoints.openai.api_server | python3 -m "
                               f"sglang.launch_server | ray start | {MNS}",
                               actual=(ran[:80] or "<image entrypoint>")))
    if not shape.kind:
        return out
    ray_shape = any(s.find("ray-head", "ray-worker", "mns-leader", "mns-worker") for s in shape.stacks)
    if ray_shape or shape.kind == "ray":
        out += _check_ray(lws, gi, shape)
    if shape.kind == "vllm":
        out += _check_vllm(lws, gi, shape, ray_shape)
    elif shape.kind == "sglang":
        out += _check_sglang(lws, gi, shape)
    out += _check_serving_port(gi, shape, services or [])
    return out


def serving_port(shape: GroupShape) -> tuple[int | None, Launch | None]:
    """The port the leader's server listens on (its --port, else the server's default)."""
    leader = shape.leader
    if leader is None:
        return None, None
    launch = leader.find("vllm", "sglang")
    if launch is None:
        return None, None
    default = VLLM_DEFAULT_PORT if launch.kind == "vllm" else SGLANG_DEFAULT_PORT
    port, _ = _int(launch.flags.get("port"), default)
    return port, launch


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
    if launch.kind == "vllm" and launch.positional:
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
    for w in shape.workers:
        out += _check_ray_worker(lws, gi, w, head_port)
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
    if port != head_port:
        out.append(Finding(gi, "ray-port", FAIL, f"the worker connects to port {port}, the head listens on "
                           f"{head_port}", template="worker", pod=w.name,
                           flag="--ray_port" if mns is not None else "--address", expected=str(head_port),
                           actual=str(port)))
    return out


def _parallel(launch: Launch, kind: str) -> tuple[dict[str, tuple[int | None, str, str]], list[str]]:
    """name -> (value, text, flag spelling) for TP, PP, DP of a vLLM or SGLang launch."""
    if kind == "vllm":
        names = {"tp": ("tensor-parallel-size", "tp"), "pp": ("pipeline-parallel-size", "pp"),
                 "dp": ("data-parallel-size", "dp")}
    else:
        names = {"tp": ("tensor-parallel-size", "tp-size", "tp"), "pp": ("pipeline-parallel-size", "pp-size", "pp")}
    out: dict[str, tuple[int | None, str, str]] = {}
    for key, spellings in names.items():
        flag = first_flag(launch.flags, *spellings)
        value, text = _int(flag, 1)
        out[key] = (value, text if flag is None else _shown(flag), flag.name if flag else f"--{spellings[0]}")
    return out, [v[2] for v in out.values()]


def _check_world(gi: int, s: PodStack, launch: Launch, shape: GroupShape) -> list[Finding]:
    """TP x PP (x DP) == the group's GPUs."""
    par, spellings = _parallel(launch, launch.kind)
    flag = " x ".join(spellings[:2]) + (" x " + spellings[2] if len(spellings) > 2 and par["dp"][0] != 1 else "")
    if any(v[0] is None for v in par.values()):
        bad = [v for v in par.values() if v[0] is None]
        return [Finding(gi, "tp-pp", WARN, f"cannot evaluate {bad[0][2]}: '{bad[0][1]}' is not a number",
                        template=s.role, pod=s.name, flag=bad[0][2], actual=bad[0][1])]
    need = 1
    for value, _, _ in par.values():
        need *= value or 1
    actual = " x ".join(v[1] for k, v in par.items() if k != "dp" or v[0] != 1) + f" = {need}"
    total = shape.group_gpus
    expected = f"{_fmt(total)} ({shape.per_pod})"
    if total == 0:
        return [Finding(gi, "tp-pp", WARN, "no GPU or TPU resources requested (nvidia.com/gpu, amd.com/gpu, "
                        "google.com/tpu): cannot compare", template=s.role, pod=s.name, flag=flag,
                        expected="resources.limits with accelerators", actual=actual)]
    if need > total:
        return [Finding(gi, "tp-pp", FAIL, f"needs {need} GPUs, the group has {_fmt(total)}: the engine waits for "
                        "resources that never come", template=s.role, pod=s.name, flag=flag, expected=expected,
                        actual=actual)]
    if need < total:
        return [Finding(gi, "tp-pp", WARN, f"uses {need} of the group's {_fmt(total)} GPUs: the rest stay idle",
                        template=s.role, pod=s.name, flag=flag, expected=expected, actual=actual)]
    return [Finding(gi, "tp-pp", PASS, f"{actual} GPUs = {shape.per_pod}", template=s.role, pod=s.name,
                    flag=flag, expected=expected, actual=actual)]


def _check_vllm(lws: LwsView, gi: int, shape: GroupShape, ray_shape: bool) -> list[Finding]:
    out: list[Finding] = []
    servers = [(s, s.find("vllm")) for s in shape.stacks if s.find("vllm")]
    leader = shape.leader
    lead = leader.find("vllm") if leader else None
    if lead is None and leader is not None:
        out.append(Finding(gi, "vllm", FAIL, "the workers run vLLM but the leader does not: nothing serves the "
                           "group's endpoint", template="leader", pod=leader.name, flag="vllm serve",
                           expected="vllm serve in the leader", actual="<none>"))
    s0, launch = (leader, lead) if lead is not None else servers[0]
    out += _check_world(gi, s0, launch, shape)
    mp_nodes = first_flag(launch.flags, "nnodes")
    backend = launch.flags.get("distributed-executor-backend")
    b = (backend.value or "").lower() if backend else ""
    if lws.size > 1 and mp_nodes is not None:
        # vLLM's own multi-node launch (no Ray): every pod runs vllm with --nnodes/--node-rank/--master-addr
        out += _check_rendezvous(lws, gi, shape, "vllm", ("nnodes",), ("node-rank",), ("master-addr",))
        if b == "ray":
            out.append(Finding(gi, "executor-backend", FAIL, "--nnodes starts vLLM on every pod without Ray, but the "
                               "backend is ray", template=s0.role, pod=s0.name, flag=backend.name,
                               expected="mp", actual=_shown(backend)))
    elif lws.size > 1 and any(first_flag(x.flags, "data-parallel-address", "headless") for _, x in servers):
        # vLLM data parallel over pods: every pod runs vllm, the others (--headless) join the leader's address
        for s, x in servers:
            f = first_flag(x.flags, "data-parallel-address")
            want = leader_address(s, lws, gi)
            if s is s0 and (f is None or _same_host(f.value or "", want)):
                continue
            if f is None or not f.value or not _same_host(f.value, want):
                out.append(Finding(gi, "dist-init-addr", FAIL, "--data-parallel-address must be this group's leader "
                                   "(use $(LWS_LEADER_ADDRESS))", template=s.role, pod=s.name,
                                   flag=f.name if f else "--data-parallel-address", expected=want,
                                   actual=_shown(f) if f else "<unset>"))
            else:
                out.append(Finding(gi, "dist-init-addr", PASS, f"--data-parallel-address {f.value}", template=s.role,
                                   pod=s.name, flag=f.name, expected=want, actual=_shown(f)))
        missing = [s for s in shape.stacks if not s.find("vllm")]
        for s in missing:
            out.append(Finding(gi, "vllm-launch", FAIL, f"the {s.role} runs no vLLM engine: the data-parallel group "
                               "waits for it", template=s.role, pod=s.name, flag="vllm serve --headless",
                               expected="vllm serve ... --headless", actual="<none>"))
        return out
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


def _has_leader_template(lws: LwsView) -> bool:
    """Whether leaders have their own template (a literal rank 0 there is right for every leader)."""
    return bool(((lws.raw.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("leaderTemplate"))


def _check_rendezvous(lws: LwsView, gi: int, shape: GroupShape, kind: str, nnodes: tuple[str, ...],
                      rank: tuple[str, ...], addr: tuple[str, ...]) -> list[Finding]:
    """--nnodes == size, --node-rank == LWS_WORKER_INDEX, --dist-init-addr/--master-addr host == leader."""
    out: list[Finding] = []
    ports: dict[str, list[str]] = {}
    for s in shape.stacks:
        launch = s.find(kind)
        if launch is None:
            out.append(Finding(gi, f"{kind}-launch", FAIL, f"the {s.role} runs no {kind} process: the others wait "
                               "for it forever", template=s.role, pod=s.name, flag=f"--{rank[0]}",
                               expected=f"{kind} with --{rank[0]} {s.worker_index}",
                               actual=s.launches[0].text[:80] if s.launches else "<no recognised command>"))
            continue
        f = first_flag(launch.flags, *nnodes)
        if f is None or f.value != str(lws.size):
            out.append(Finding(gi, "nnodes", FAIL, f"--{nnodes[0]} must be the LWS size ($(LWS_GROUP_SIZE))",
                               template=s.role, pod=s.name, flag=f.name if f else f"--{nnodes[0]}",
                               expected=str(lws.size), actual=_shown(f) if f else "<unset: 1>"))
        else:
            out.append(Finding(gi, "nnodes", PASS, f"--{nnodes[0]} {lws.size}", template=s.role, pod=s.name,
                               flag=f.name, expected=str(lws.size), actual=_shown(f)))
        f = first_flag(launch.flags, *rank)
        want = str(s.worker_index)
        if f is None or f.value != want:
            out.append(Finding(gi, "node-rank", FAIL, f"--{rank[0]} must be this pod's LWS_WORKER_INDEX "
                               "(use $(LWS_WORKER_INDEX))", template=s.role, pod=s.name,
                               flag=f.name if f else f"--{rank[0]}", expected=want,
                               actual=_shown(f) if f else "<unset: 0>"))
        elif keys.ENV_WORKER_INDEX not in f.raw and (s.role == "worker" or not _has_leader_template(lws)):
            out.append(Finding(gi, "node-rank", WARN, f"--{rank[0]} is a literal: right for this pod, wrong for the "
                               "others of the template (use $(LWS_WORKER_INDEX))", template=s.role, pod=s.name,
                               flag=f.name, expected=f"$({keys.ENV_WORKER_INDEX})", actual=_shown(f)))
        else:
            out.append(Finding(gi, "node-rank", PASS, f"--{rank[0]} {want} from LWS_WORKER_INDEX", template=s.role,
                               pod=s.name, flag=f.name, expected=want, actual=_shown(f)))
        f = first_flag(launch.flags, *addr)
        want_host = leader_address(s, lws, gi)
        if f is None or not f.value:
            out.append(Finding(gi, "dist-init-addr", FAIL, f"--{addr[0]} is unset: the pods cannot find rank 0",
                               template=s.role, pod=s.name, flag=f"--{addr[0]}", expected=f"{want_host}:PORT",
                               actual="<unset>"))
            continue
        host, port = split_host_port(f.value)
        ports.setdefault(str(port), []).append(s.name)
        if not _same_host(host, want_host):
            out.append(Finding(gi, "dist-init-addr", FAIL, f"--{addr[0]} host is not this group's leader (use "
                               "$(LWS_LEADER_ADDRESS))", template=s.role, pod=s.name, flag=f.name,
                               expected=want_host, actual=_shown(f)))
        else:
            out.append(Finding(gi, "dist-init-addr", PASS, f"--{addr[0]} {f.value}", template=s.role, pod=s.name,
                               flag=f.name, expected=want_host, actual=_shown(f)))
    if len(ports) > 1:
        detail = "; ".join(f"{', '.join(pods)}: {p}" for p, pods in ports.items())
        out.append(Finding(gi, "dist-init-addr", FAIL, f"the pods use different rendezvous ports ({detail})",
                           flag=f"--{addr[0]}", expected="one port", actual=", ".join(ports)))
    return out


def _check_sglang(lws: LwsView, gi: int, shape: GroupShape) -> list[Finding]:
    out: list[Finding] = []
    leader = shape.leader
    lead = leader.find("sglang") if leader else None
    s0, launch = (leader, lead) if lead is not None else next((s, s.find("sglang")) for s in shape.stacks
                                                             if s.find("sglang"))
    out += _check_world(gi, s0, launch, shape)
    if lws.size > 1:
        out += _check_rendezvous(lws, gi, shape, "sglang", ("nnodes",), ("node-rank",), ("dist-init-addr",))
        # every pod must agree on the parallel layout
        seen: dict[str, list[str]] = {}
        for s in shape.stacks:
            other = s.find("sglang")
            if other is None:
                continue
            par, _ = _parallel(other, "sglang")
            seen.setdefault(f"tp {par['tp'][1]}, pp {par['pp'][1]}", []).append(s.name)
        if len(seen) > 1:
            detail = "; ".join(f"{', '.join(p)}: {k}" for k, p in seen.items())
            out.append(Finding(gi, "tp-pp", FAIL, f"the pods disagree on the parallel layout ({detail})",
                               flag="--tp", expected="the same on every pod", actual=", ".join(seen)))
    return out


def _selects(selector: dict, pod_labels: dict) -> bool:
    return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())


def _check_serving_port(gi: int, shape: GroupShape, services: list[dict]) -> list[Finding]:
    port, launch = serving_port(shape)
    leader = shape.leader
    if port is None or leader is None or launch is None:
        return []
    out: list[Finding] = []
    declared = {p.get("containerPort"): p.get("name") for p in leader.container.get("ports") or []}
    flag = "--port"
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
    worker_labels = [labels(w.pod) for w in shape.workers]
    for svc in services:
        spec = svc.get("spec") or {}
        sel = spec.get("selector") or {}
        if spec.get("clusterIP") == "None" or not _selects(sel, leader_labels):
            continue  # headless: the LWS's own per-pod DNS Service, not a traffic path
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
        hit = [w.name for w, wl in zip(shape.workers, worker_labels) if _selects(sel, wl)]
        if hit:
            out.append(Finding(gi, "service", WARN, f"Service {sname} also selects workers, which serve nothing "
                               f"({', '.join(hit[:3])}{'...' if len(hit) > 3 else ''}): add role: leader to its "
                               "selector", template="worker", pod=hit[0], flag="selector",
                               expected="leaders only", actual=", ".join(f"{k}={v}" for k, v in sel.items())))
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


def check_http_live(gi: int, leader: str, port: int, records: list[dict], model: str | None) -> list[Finding]:
    """GET /health and /v1/models results (from the in-leader probe) -> findings."""
    out: list[Finding] = []
    by_path = {r.get("path"): r for r in records if isinstance(r, dict)}
    for path, check in (("/health", "health"), ("/v1/models", "models")):
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
            why = " (engine dead)" if status == 503 and path == "/health" else ""
            out.append(Finding(gi, check, FAIL, f"GET {where}: HTTP {status}{why}{took}", template="leader",
                               pod=leader, flag="--port", expected="200", actual=str(status)))
            continue
        if path == "/health":
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
    return out
