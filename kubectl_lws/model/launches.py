"""What each pod of a group runs, as far as the runtime checks care: the recognised programs (vLLM,
SGLang, Ray, multi-node-serving.sh, TensorRT-LLM, mpirun/sshd), the NVIDIA NIM role from the env, the
accelerators, and the finding type every runtime check returns.

Pure functions over pod dicts, shared by :mod:`runtimecheck` (Ray, serving port, Services, live),
:mod:`dpcheck` (vLLM data/expert parallel, SGLang DP attention) and :mod:`nvcheck` (NIM, TensorRT-LLM).
A command line is evaluated per pod by :mod:`cmdline` (the kubelet's ``$(VAR)``, then the shell subset),
with the pod's own env: its LWS variables and the fieldRefs known from the pod (labels, names, IPs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from kubectl_lws.model import keys
from kubectl_lws.model.cmdline import (Flag, Word, container_commands, container_env, first_flag, parse_flags,
                                       split_host_port)
from kubectl_lws.model.groups import Group, LwsView, pod_name, worker_index
from kubectl_lws.model.shell import shown

PASS, INFO, WARN, FAIL = "PASS", "INFO", "WARN", "FAIL"
SEVERITY = {PASS: 0, INFO: 0, WARN: 1, FAIL: 2}
ACCELERATORS = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu")
RAY_DEFAULT_PORT = 6379
VLLM_DEFAULT_PORT = 8000
SGLANG_DEFAULT_PORT = 30000
NIM_DEFAULT_PORT = 8000
TRITON_DEFAULT_PORT = 8000
TRTLLM_SERVE_DEFAULT_PORT = 8000
MNS = "multi-node-serving.sh"
NOT_RECOGNISED = "not recognised: only static env checks apply (see verify env)"
RECOGNISED = (f"vllm serve | python3 -m vllm.entrypoints.openai.api_server | python3 -m sglang.launch_server | "
              f"ray start | {MNS} | trtllm-serve | server.py leader|worker (LWS TensorRT-LLM example) | "
              "NVIDIA NIM (NIM_* env)")
# Env that marks an NVIDIA NIM container (the nim-deploy chart and the NIM operator set them).
NIM_ENV = ("NIM_LEADER_ROLE", "NIM_NUM_COMPUTE_NODES", "NIM_MULTI_NODE", "NIM_NODE_RANK")

_RAY_BOOL = frozenset({"head", "block", "disable-usage-stats", "include-log-monitor", "verbose"})
_VLLM_BOOL = frozenset({"trust-remote-code", "enforce-eager", "headless", "disable-log-requests",
                        "disable-log-stats", "enable-prefix-caching", "enable-chunked-prefill",
                        "enable-expert-parallel", "enable-auto-tool-choice", "disable-custom-all-reduce",
                        "data-parallel-hybrid-lb", "data-parallel-external-lb",
                        "data-parallel-multi-port-external-lb", "enable-eplb", "enable-dbo",
                        "disable-uvicorn-access-log", "no-enable-prefix-caching", "enable-log-requests",
                        "async-scheduling", "enable-sleep-mode", "enable-lora", "skip-tokenizer-init"})
_SGLANG_BOOL = frozenset({"trust-remote-code", "enable-dp-attention", "disable-cuda-graph", "enable-torch-compile",
                          "enable-metrics", "skip-tokenizer-init", "disable-radix-cache", "enable-dp-lm-head",
                          "enable-ep-moe", "enable-deepep-moe", "enable-eplb", "enable-two-batch-overlap",
                          "disable-overlap-schedule", "enable-cache-report", "enable-mixed-chunk"})
_TRTLLM_BOOL = frozenset({"trust_remote_code", "trust-remote-code", "verbose", "enable_nsys", "enable-nsys",
                          "iso8601"})
_MPI_ARG = frozenset({"n", "np", "c", "host", "hostfile", "machinefile", "x", "mca", "bind-to", "map-by",
                      "report-bindings", "rank-by", "npernode", "N", "wdir", "prefix", "plm_rsh_agent"})


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
    """One recognised program: ``kind`` vllm | sglang | ray-head | ray-worker | mns-leader | mns-worker |
    trtllm-leader | trtllm-worker | trtllm-serve | mpirun | sshd. ``cond``: set when the script runs it only
    under a condition that cannot be evaluated statically (as written)."""

    kind: str
    argv: list[Word]
    flags: dict[str, Flag]
    positional: list[Word] = field(default_factory=list)
    cond: str = ""

    @property
    def text(self) -> str:
        return " ".join(w.value for w in self.argv)


def _python_module(words: list[Word]) -> tuple[str, list[Word]] | None:
    """``python3 [-u ...] -m MODULE args`` -> (MODULE, args)."""
    if not words or not _is_python(words[0]):
        return None
    i = 1
    while i < len(words) and words[i].value.startswith("-"):
        if words[i].value == "-m" and i + 1 < len(words):
            return words[i + 1].value, words[i + 2:]
        if words[i].value.startswith("-m") and len(words[i].value) > 2:
            return words[i].value[2:], words[i + 1:]
        i += 1
    return None


def _is_python(word: Word) -> bool:
    return re.match(r"^python(\d(\.\d+)?)?$", word.value.rsplit("/", 1)[-1]) is not None


def _python_script(words: list[Word]) -> tuple[str, list[Word]] | None:
    """``python3 [-u] path/script.py args`` -> (script basename, args)."""
    if not words or not _is_python(words[0]):
        return None
    i = 1
    while i < len(words) and words[i].value.startswith("-") and words[i].value not in ("-m", "-c"):
        i += 1
    if i < len(words) and words[i].value.endswith(".py"):
        return words[i].value.rsplit("/", 1)[-1], words[i + 1:]
    return None


def _mpirun(words: list[Word]) -> tuple[Launch, list[Word]] | None:
    """``mpirun [options] PROGRAM ...`` -> (the mpirun launch, the program's words). Options that take a
    value (``-n 16``, ``--hostfile F``, ``-x NAME``, ``-mca k v``) are skipped with it."""
    prog = words[0].value.rsplit("/", 1)[-1] if words else ""
    if prog not in ("mpirun", "mpiexec", "orterun"):
        return None
    flags: dict[str, Flag] = {}
    i = 1
    while i < len(words):
        w = words[i]
        name = w.value.lstrip("-")
        if not w.value.startswith("-"):
            break
        if name in ("mca", "gmca"):
            i += 3
            continue
        if "=" in name:
            key, value = name.split("=", 1)
            flags[key] = Flag(w.value.split("=", 1)[0], value, w.raw, "=", w.unresolved, w.why)
            i += 1
            continue
        if name in _MPI_ARG and i + 1 < len(words):
            nxt = words[i + 1]
            if name in ("n", "np", "c", "host", "hostfile", "machinefile", "npernode", "N"):
                flags[name] = Flag(w.value, nxt.value, nxt.raw, " ", nxt.unresolved, nxt.why)
            i += 2
            continue
        flags[name] = Flag(w.value, None, "", "")
        i += 1
    return Launch("mpirun", words, flags), words[i:]


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
    if prog == "trtllm-llmapi-launch" and args:
        return recognise(args)
    if prog == "trtllm-serve":
        rest = args[1:] if args and args[0].value == "serve" else args
        flags, pos = parse_flags(rest, _TRTLLM_BOOL)
        return Launch("trtllm-serve", words, flags, pos)
    if prog == "sshd":
        flags, pos = parse_flags(args, frozenset({"D", "De", "e"}))
        return Launch("sshd", words, flags, pos)
    if prog == "ray" and args and args[0].value == "start":
        flags, pos = parse_flags(args[1:], _RAY_BOOL)
        return Launch("ray-head" if "head" in flags else "ray-worker", words, flags, pos)
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
        if module in ("tensorrt_llm.commands.serve",):
            flags, pos = parse_flags(rest, _TRTLLM_BOOL)
            return Launch("trtllm-serve", words, flags, pos)
    script = _python_script(words)
    if script and script[0] == "server.py" and script[1] and script[1][0].value in ("leader", "worker"):
        # the LWS TensorRT-LLM example: server.py leader|worker --tp --pp --gpu_per_node ...
        flags, pos = parse_flags(script[1][1:], _TRTLLM_BOOL)
        if "triton_model_repo_dir" in {k.replace("-", "_") for k in flags} or \
                {"tp", "pp", "gpu-per-node", "stateful-set-group-key"} & set(flags):
            return Launch(f"trtllm-{script[1][0].value}", words, flags, pos)
    return None


def launches_of(commands: Iterable[list[Word]]) -> list[Launch]:
    """The recognised launches of a container's commands; ``mpirun PROGRAM`` gives both."""
    out: list[Launch] = []
    for cmd in commands:
        cond = getattr(cmd, "cond", "")
        mpi = _mpirun(list(cmd))
        if mpi is not None:
            mpi[0].cond = cond
            out.append(mpi[0])
            cmd = mpi[1]
        launch = recognise(list(cmd))
        if launch is not None:
            launch.cond = cond
            out.append(launch)
    return out


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
    whys: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)   # why the script's evaluation stopped early

    def find(self, *kinds: str) -> Launch | None:
        for launch in self.launches:
            if launch.kind in kinds:
                return launch
        return None

    @property
    def nim(self) -> bool:
        """An NVIDIA NIM container: NIM's multi-node env, or a nvcr.io/nim image with NIM_* settings."""
        if any(name in self.env for name in NIM_ENV):
            return True
        return "nvcr.io/nim/" in str(self.container.get("image", "")) and any(n.startswith("NIM_") for n in self.env)


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


_LAUNCH_CACHE: dict[tuple, tuple[list[Launch], list[str]]] = {}


def container_launches(c: dict, env: dict[str, str | None],
                       whys: dict[str, str] | None = None) -> tuple[list[Launch], list[str]]:
    """(the recognised launches of one container, why its script's evaluation stopped early). Cached by
    the command line and the values of the variables it mentions: 512 leaders with the same template and
    LWS_GROUP_SIZE cost one evaluation."""
    items = tuple(str(x) for x in list(c.get("command") or []) + list(c.get("args") or []))
    if not items:
        return [], []
    names = _referenced(items)
    values = tuple((n, env.get(n), n in env, (whys or {}).get(n)) for n in names)
    key = (items, bool(c.get("command")), str(c.get("image", "")), values)
    cacheable = not any(v and "$" in v for _, v, _, _ in values)  # a value that expands further: no shortcut
    if cacheable and key in _LAUNCH_CACHE:
        return _LAUNCH_CACHE[key]
    commands = container_commands(c, env, whys)
    errors = list(commands.errors)
    if not c.get("command") and c.get("args"):
        image = str(c.get("image", ""))
        for marker, entry in _IMAGE_ENTRYPOINTS:
            if marker in image:  # the image's own ENTRYPOINT runs the args
                commands = [[Word(v, v) for v in entry] + [w for cmd in commands for w in cmd]]
    result = (launches_of(commands), errors)
    if cacheable:
        if len(_LAUNCH_CACHE) > 4096:
            _LAUNCH_CACHE.clear()
        _LAUNCH_CACHE[key] = result
    return result


def pod_stack(pod: dict) -> PodStack:
    """Recognise what the pod's containers run; the main container is the first with a launch, else the
    first with NIM's env."""
    containers = (pod.get("spec") or {}).get("containers") or []
    chosen: tuple | None = None
    nim: tuple | None = None
    for c in containers:
        env, whys = container_env(c, pod)
        launches, errors = container_launches(c, env, whys)
        if launches and chosen is None:
            chosen = (c, env, launches, whys, errors)
        if nim is None and any(name in env for name in NIM_ENV):
            nim = (c, env, launches, whys, errors)
    if chosen is None:
        chosen = nim
    if chosen is None:
        c = containers[0] if containers else {}
        env, whys = container_env(c, pod)
        chosen = (c, env, [], whys, container_launches(c, env, whys)[1])
    wi = worker_index(pod) or 0
    c, env, launches, whys, errors = chosen
    return PodStack(pod, pod_name(pod), "leader" if wi == 0 else "worker", wi, c, env, launches, pod_gpus(pod),
                    whys, errors)


# ---- helpers for the checks -------------------------------------------------------------------------------

def flag_int(flag: Flag | None, default: int) -> tuple[int | None, str]:
    """(value or None when it is not a number, text for messages)."""
    if flag is None:
        return default, f"{default} (default)"
    try:
        return int(str(flag.value)), str(flag.value)
    except (TypeError, ValueError):
        return None, str(flag.value)


def shown_flag(flag: Flag | None) -> str:
    """The flag's value, and where it came from when that differs (``1 (written $(LWS_WORKER_INDEX))``)."""
    if flag is None:
        return "<unset>"
    value = "<none>" if flag.value is None else flag.value
    if flag.raw and flag.raw != value:
        return f"{value} (written {shown(flag.raw, 80)})"
    return value


def not_evaluated(gi: int, check: str, s: "PodStack", flag: Flag, what: str = "") -> Finding:
    """The INFO for a value that cannot be evaluated statically: the flag, the whole expression, why.
    Every other check still runs; this one is reported as not checked."""
    why = flag.why or f"'{shown(str(flag.value), 60)}' is not a number"
    return Finding(gi, check, INFO, f"not checked: cannot evaluate {flag.name} {what}statically: {why}",
                   template=s.role, pod=s.name, flag=flag.name, actual=shown(flag.raw or str(flag.value), 80))


def fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def ranges(ranks: Iterable[int]) -> str:
    """``0,1,2,5,6`` -> ``0-2, 5-6``."""
    items = sorted(set(ranks))
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ", ".join(out)


def leader_address(stack: PodStack, lws: LwsView, group_index: int) -> str:
    """LWS_LEADER_ADDRESS as the pod has it (its env), else what LWS would inject."""
    value = stack.env.get(keys.ENV_LEADER_ADDRESS)
    if value:
        return value
    sub = (stack.pod.get("spec") or {}).get("subdomain") or lws.name
    ns = (stack.pod.get("metadata") or {}).get("namespace") or lws.namespace
    return f"{lws.name}-{group_index}.{sub}.{ns}"


def same_host(actual: str, expected: str) -> bool:
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
    per_pod: str   # "8 per pod x 2 pods" for messages
    kind: str      # "nim" | "trtllm" | "vllm" | "sglang" | "ray" | ""

    @property
    def ray(self) -> bool:
        return any(s.find("ray-head", "ray-worker", "mns-leader", "mns-worker") for s in self.stacks)


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
        per_pod = f"{fmt(leader_gpus)} per pod x {lws.size} pods"
    else:
        per_pod = f"leader {fmt(leader_gpus)} + workers {'+'.join(fmt(g) for g in worker_gpus)}"
    kinds = {launch.kind for s in stacks for launch in s.launches}
    if any(s.nim for s in stacks):
        kind = "nim"
    elif kinds & {"trtllm-leader", "trtllm-worker", "trtllm-serve"}:
        kind = "trtllm"
    elif "vllm" in kinds:
        kind = "vllm"
    elif "sglang" in kinds:
        kind = "sglang"
    elif kinds & {"ray-head", "ray-worker", "mns-leader", "mns-worker"}:
        kind = "ray"
    else:
        kind = ""
    return GroupShape(stacks, leader, workers, total, per_pod, kind)


def world_finding(gi: int, s: PodStack, need: int, actual: str, flag: str, shape: GroupShape,
                  check: str = "tp-pp") -> Finding:
    """The parallel layout's GPUs (``need``, written ``actual``) against the group's accelerators."""
    total = shape.group_gpus
    expected = f"{fmt(total)} ({shape.per_pod})"
    if total == 0:
        return Finding(gi, check, WARN, "no GPU or TPU resources requested (nvidia.com/gpu, amd.com/gpu, "
                       "google.com/tpu): cannot compare", template=s.role, pod=s.name, flag=flag,
                       expected="resources.limits with accelerators", actual=actual)
    if need > total:
        return Finding(gi, check, FAIL, f"needs {need} GPUs, the group has {fmt(total)}: the engine waits for "
                       "resources that never come", template=s.role, pod=s.name, flag=flag, expected=expected,
                       actual=actual)
    if need < total:
        return Finding(gi, check, WARN, f"uses {need} of the group's {fmt(total)} GPUs: the rest stay idle",
                       template=s.role, pod=s.name, flag=flag, expected=expected, actual=actual)
    return Finding(gi, check, PASS, f"{actual} GPUs = {shape.per_pod}", template=s.role, pod=s.name, flag=flag,
                   expected=expected, actual=actual)


def _has_leader_template(lws: LwsView) -> bool:
    """Whether leaders have their own template (a literal rank 0 there is right for every leader)."""
    return bool(((lws.raw.get("spec") or {}).get("leaderWorkerTemplate") or {}).get("leaderTemplate"))


def check_rendezvous(lws: LwsView, gi: int, shape: GroupShape, kind: str, nnodes: tuple[str, ...],
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
                               expected=str(lws.size), actual=shown_flag(f) if f else "<unset: 1>"))
        else:
            out.append(Finding(gi, "nnodes", PASS, f"--{nnodes[0]} {lws.size}", template=s.role, pod=s.name,
                               flag=f.name, expected=str(lws.size), actual=shown_flag(f)))
        f = first_flag(launch.flags, *rank)
        want = str(s.worker_index)
        if f is None or f.value != want:
            out.append(Finding(gi, "node-rank", FAIL, f"--{rank[0]} must be this pod's LWS_WORKER_INDEX "
                               "(use $(LWS_WORKER_INDEX))", template=s.role, pod=s.name,
                               flag=f.name if f else f"--{rank[0]}", expected=want,
                               actual=shown_flag(f) if f else "<unset: 0>"))
        elif keys.ENV_WORKER_INDEX not in f.raw and (s.role == "worker" or not _has_leader_template(lws)):
            out.append(Finding(gi, "node-rank", WARN, f"--{rank[0]} is a literal: right for this pod, wrong for the "
                               "others of the template (use $(LWS_WORKER_INDEX))", template=s.role, pod=s.name,
                               flag=f.name, expected=f"$({keys.ENV_WORKER_INDEX})", actual=shown_flag(f)))
        else:
            out.append(Finding(gi, "node-rank", PASS, f"--{rank[0]} {want} from LWS_WORKER_INDEX", template=s.role,
                               pod=s.name, flag=f.name, expected=want, actual=shown_flag(f)))
        f = first_flag(launch.flags, *addr)
        want_host = leader_address(s, lws, gi)
        if f is None or not f.value:
            out.append(Finding(gi, "dist-init-addr", FAIL, f"--{addr[0]} is unset: the pods cannot find rank 0",
                               template=s.role, pod=s.name, flag=f"--{addr[0]}", expected=f"{want_host}:PORT",
                               actual="<unset>"))
            continue
        host, port = split_host_port(f.value)
        ports.setdefault(str(port), []).append(s.name)
        if not same_host(host, want_host):
            out.append(Finding(gi, "dist-init-addr", FAIL, f"--{addr[0]} host is not this group's leader (use "
                               "$(LWS_LEADER_ADDRESS))", template=s.role, pod=s.name, flag=f.name,
                               expected=want_host, actual=shown_flag(f)))
        else:
            out.append(Finding(gi, "dist-init-addr", PASS, f"--{addr[0]} {f.value}", template=s.role, pod=s.name,
                               flag=f.name, expected=want_host, actual=shown_flag(f)))
    if len(ports) > 1:
        detail = "; ".join(f"{', '.join(pods)}: {p}" for p, pods in ports.items())
        out.append(Finding(gi, "dist-init-addr", FAIL, f"the pods use different rendezvous ports ({detail})",
                           flag=f"--{addr[0]}", expected="one port", actual=", ".join(ports)))
    return out
