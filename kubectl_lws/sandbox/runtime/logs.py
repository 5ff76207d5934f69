"""Deterministic container logs for the sandbox kubelet.

No pod has a writer task: with 4,096 pods that would cost a task per container. Instead a container
instance's log is a pure function of (pod uid, container, instance number, start time, generator) and of
"now": line ``i`` has a fixed timestamp, so the lines that exist at time T, a tail, a ``sinceTime`` cut or a
follow stream are all computed on demand in O(lines returned).

Generator config comes from the pod annotation ``sandbox.kubectl-lws.dev/logs`` (JSON)::

    {"rate": 2.0,                     # periodic lines per second (wall clock)
     "startup": ["INFO loading shard {n}", ...],   # emitted first, ``startup_gap`` seconds apart
     "lines": ["INFO step {n} loss={loss}", ...],  # cycled at ``rate`` after the startup lines
     "crash": ["RuntimeError: ..."],  # last lines of an instance that terminated
     "startup_gap": 0.137, "max_lines": 10000,
     "containers": {"worker": {...same keys, override per container...}}}

Placeholders: {n} line number within the section (1-based), {i} absolute line index, {pod}, {namespace},
{container}, {restart}, {time} (``MM-DD HH:MM:SS`` of the line), {ip}, {node}, {rank} (LWS worker index),
{size} (LWS group size), {leader} (LWS_LEADER_ADDRESS-like name), {exit_code}, {tput}, {loss}, {kv}.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import functools
import math
import string
from dataclasses import dataclass, field
from typing import Any, Iterator

LOGS_ANNOTATION = "sandbox.kubectl-lws.dev/logs"
WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
SIZE_ANNOTATION = "leaderworkerset.sigs.k8s.io/size"
LEADER_NAME_ANNOTATION = "leaderworkerset.sigs.k8s.io/leader-name"

# vLLM-like defaults: what an LWS multi-node inference server prints while it starts and serves.
_LEADER_STARTUP = [
    "INFO {time} api_server.py:585] vLLM API server version 0.6.3",
    "INFO {time} api_server.py:586] args: model='meta-llama/Llama-3.1-405B' tensor_parallel_size=1 "
    "pipeline_parallel_size={size}",
    "INFO {time} ray_utils.py:203] Ray cluster head started on {ip}:6379, waiting for {size} nodes",
    "NCCL INFO Bootstrap : Using eth0:{ip}<0>",
    "NCCL INFO NET/Socket : Using [0]eth0:{ip}<0>",
    "INFO {time} distributed_gpu_executor.py:57] # GPU blocks: 18542, # CPU blocks: 4096",
    "INFO {time} model_runner.py:1072] Loading model weights took 94.2117 GB",
    "INFO {time} launcher.py:19] Available routes are: /health, /v1/models, /v1/completions, /v1/chat/completions",
    "INFO:     Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)",
]
_WORKER_STARTUP = [
    "INFO {time} worker.py:112] starting worker rank={rank} of {size}",
    "INFO {time} ray_utils.py:221] connecting to Ray head at {leader}:6379",
    "NCCL INFO Bootstrap : Using eth0:{ip}<0>",
    "NCCL INFO comm 0x7f21a0 rank {rank} nranks {size} cudaDev 0 busId 1000 - Init COMPLETE",
    "INFO {time} worker.py:148] worker {rank} ready, waiting for leader",
]
_LEADER_LINES = [
    "INFO {time} metrics.py:351] Avg prompt throughput: {tput} tokens/s, Avg generation throughput: {tput} tokens/s, "
    "Running: 4 reqs, Swapped: 0 reqs, Pending: 0 reqs, GPU KV cache usage: {kv}%, CPU KV cache usage: 0.0%.",
    "INFO:     10.0.0.1:52114 - \"POST /v1/completions HTTP/1.1\" 200 OK",
]
_WORKER_LINES = ["INFO {time} worker.py:201] step {n} pipeline stage {rank} ok (loss={loss})"]
_CRASH = [
    "NCCL WARN socketStartConnect: Connect to {leader}<29500> failed : Connection refused",
    "RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, unhandled system error",
    "ERROR {time} engine.py:142] engine process exited (exitcode {exit_code})",
]
_KEYS = ("rate", "startup", "lines", "crash", "startup_gap", "max_lines")


@dataclass(frozen=True)
class LogSpec:
    """One container's generator after defaults and per-container overrides."""

    rate: float = 1.0
    startup: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    crash: tuple[str, ...] = ()
    startup_gap: float = 0.137
    max_lines: int = 10000


def log_spec(pod: dict, container: str) -> LogSpec:
    """The generator for ``container``: defaults by LWS role, then the annotation, then its override."""
    meta = pod.get("metadata") or {}
    is_worker = (meta.get("labels") or {}).get(WORKER_INDEX_LABEL, "0") not in ("0", "")
    cfg: dict[str, Any] = {
        "rate": 1.0,
        "startup": _WORKER_STARTUP if is_worker else _LEADER_STARTUP,
        "lines": _WORKER_LINES if is_worker else _LEADER_LINES,
        "crash": _CRASH,
    }
    raw = (meta.get("annotations") or {}).get(LOGS_ANNOTATION)
    if raw:
        try:
            user = json.loads(raw)
        except ValueError:
            user = {}
        if isinstance(user, dict):
            cfg.update({k: v for k, v in user.items() if k in _KEYS})
            override = (user.get("containers") or {}).get(container)
            if isinstance(override, dict):
                cfg.update({k: v for k, v in override.items() if k in _KEYS})
    return LogSpec(rate=max(float(cfg.get("rate", 1.0)), 0.0),
                   startup=tuple(str(x) for x in cfg.get("startup") or ()),
                   lines=tuple(str(x) for x in cfg.get("lines") or ()),
                   crash=tuple(str(x) for x in cfg.get("crash") or ()),
                   startup_gap=max(float(cfg.get("startup_gap", 0.137)), 0.0),
                   max_lines=max(int(cfg.get("max_lines", 10000)), 1))


def logs_annotation(rate: float = 500.0, **extra: Any) -> dict[str, str]:
    """Pod-template annotations that make every container log ``rate`` lines/s (benchmarks: fast writers)."""
    return {LOGS_ANNOTATION: json.dumps({"rate": rate, **extra})}


def parse_time(value: str | None) -> float | None:
    """RFC3339 (with or without fraction) -> epoch seconds."""
    if not value:
        return None
    v = value.strip().replace("Z", "+00:00")
    if "." in v:  # Python < 3.11 cannot parse nanoseconds: keep microseconds
        head, _, rest = v.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits):]
        v = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    return _dt.datetime.fromisoformat(v).timestamp()


def rfc3339nano(ts: float) -> str:
    """``2026-11-22T10:26:07.781000000Z``: the kubelet's ``timestamps=true`` prefix (always 9 digits)."""
    whole = math.floor(ts)
    nanos = int(round((ts - whole) * 1e6)) * 1000  # float epochs carry ~microseconds; don't print noise
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return f"{_long_time(whole)}.{nanos:09d}Z"


@functools.lru_cache(maxsize=4096)
def _long_time(second: int) -> str:
    return _dt.datetime.fromtimestamp(second, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Instance:
    """One run of a container: lines exist from ``started`` until ``finished`` (None: still running)."""

    pod: dict
    container: str
    number: int
    started: float
    finished: float | None = None
    exit_code: int | None = None
    spec: LogSpec = field(default_factory=LogSpec)

    # -- timing -----------------------------------------------------------------------------------------
    def _periodic_start(self) -> float:
        return self.started + len(self.spec.startup) * self.spec.startup_gap

    def _normal_time(self, i: int) -> float:
        """Timestamp of the i-th non-crash line (startup lines first, then periodic at ``rate``)."""
        s = len(self.spec.startup)
        if i < s:
            return self.started + i * self.spec.startup_gap
        if self.spec.rate <= 0 or not self.spec.lines:
            return math.inf
        return self._periodic_start() + (i - s + 1) / self.spec.rate

    def _normal_count(self, t: float) -> int:
        """How many non-crash lines have a timestamp <= t."""
        if t < self.started:
            return 0
        s = len(self.spec.startup)
        if self.spec.startup_gap > 0:
            n = min(s, int((t - self.started) / self.spec.startup_gap + 1e-9) + 1)
        else:
            n = s
        if n < s or self.spec.rate <= 0 or not self.spec.lines:
            return n
        return s + max(0, int((t - self._periodic_start()) * self.spec.rate + 1e-9))

    def _crash_lines(self) -> int:
        return len(self.spec.crash) if self.finished is not None else 0

    def total(self, now: float) -> int:
        """Number of lines written by ``now`` (crash lines appear at the end of a finished instance)."""
        end = now if self.finished is None else min(now, self.finished)
        n = self._normal_count(end)
        if self.finished is not None and now >= self.finished:
            n += self._crash_lines()
        return n

    def time_of(self, i: int) -> float:
        """Timestamp of absolute line ``i``."""
        if self.finished is not None:
            normal = self._normal_count(self.finished)
            if i >= normal:  # crash lines, squeezed just before the exit but never before earlier lines
                k = i - normal
                floor = self._normal_time(normal - 1) if normal else self.started
                return max(floor, self.finished - (self._crash_lines() - k) * 0.001)
        return self._normal_time(i)

    def first_at_or_after(self, t: float) -> int:
        """Index of the first line whose timestamp >= t."""
        if self.finished is None:
            return self._normal_count(t - 1e-9)
        lo, hi = 0, self.total(math.inf)
        while lo < hi:  # finished instances: binary search over the fixed line set (cheap: O(log n))
            mid = (lo + hi) // 2
            if self.time_of(mid) < t:
                lo = mid + 1
            else:
                hi = mid
        return lo

    # -- text -------------------------------------------------------------------------------------------
    def line(self, i: int) -> str:
        """The text of absolute line ``i`` (without newline)."""
        s = len(self.spec.startup)
        normal = self._normal_count(self.finished) if self.finished is not None else None
        if normal is not None and i >= normal:
            tmpl, n = self.spec.crash[i - normal], i - normal + 1
        elif i < s:
            tmpl, n = self.spec.startup[i], i + 1
        else:
            tmpl, n = self.spec.lines[(i - s) % len(self.spec.lines)], i - s + 1
        return _render(tmpl, self, i, n)

    def lines_between(self, start: int, end: int) -> Iterator[tuple[float, str]]:
        for i in range(start, end):
            yield self.time_of(i), self.line(i)

    def first_kept(self, now: float) -> int:
        """Log rotation: only the last ``max_lines`` lines are kept."""
        return max(0, self.total(now) - self.spec.max_lines)


def _noise(inst: Instance, i: int) -> int:
    h = hashlib.blake2b(f"{(inst.pod.get('metadata') or {}).get('uid', '')}/{inst.container}/{inst.number}/{i}"
                        .encode(), digest_size=4).digest()
    return int.from_bytes(h, "big")


class _Fmt(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_NOISY = ("tput", "loss", "kv")
_TEMPLATE_FIELDS: dict[str, frozenset[str]] = {}


def _fields(tmpl: str) -> frozenset[str]:
    """Placeholder names used by a template (cached: fast writers render thousands of lines a second)."""
    got = _TEMPLATE_FIELDS.get(tmpl)
    if got is None:
        try:
            got = frozenset(f for _, f, _, _ in string.Formatter().parse(tmpl) if f)
        except ValueError:
            got = frozenset()
        if len(_TEMPLATE_FIELDS) < 10000:
            _TEMPLATE_FIELDS[tmpl] = got
    return got


def _base_values(inst: Instance) -> dict[str, Any]:
    """Per-instance placeholder values, computed once per Instance."""
    cached = inst.__dict__.get("_base")
    if cached is not None:
        return cached
    meta = inst.pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    ann = meta.get("annotations") or {}
    subdomain = (inst.pod.get("spec") or {}).get("subdomain") or ""
    leader = ann.get(LEADER_NAME_ANNOTATION) or meta.get("name", "")
    base = dict(
        pod=meta.get("name", ""), namespace=meta.get("namespace", ""), container=inst.container,
        restart=inst.number, ip=(inst.pod.get("status") or {}).get("podIP", "") or "0.0.0.0",
        node=(inst.pod.get("spec") or {}).get("nodeName", ""), rank=labels.get(WORKER_INDEX_LABEL, "0"),
        size=ann.get(SIZE_ANNOTATION, "1"),
        leader=f"{leader}.{subdomain}.{meta.get('namespace', '')}" if subdomain else leader,
        exit_code=inst.exit_code if inst.exit_code is not None else 1,
    )
    inst.__dict__["_base"] = base
    return base


@functools.lru_cache(maxsize=4096)
def _short_time(second: int) -> str:
    return _dt.datetime.fromtimestamp(second, _dt.timezone.utc).strftime("%m-%d %H:%M:%S")


def _render(tmpl: str, inst: Instance, i: int, n: int) -> str:
    used = _fields(tmpl)
    if not used:
        return tmpl
    values = _Fmt(_base_values(inst), n=n, i=i)
    if "time" in used:
        ts = inst.time_of(i)
        values["time"] = _short_time(math.floor(ts)) if math.isfinite(ts) else ""
    if not used.isdisjoint(_NOISY):
        r = _noise(inst, i)
        values.update(tput=f"{100 + r % 900}.{r % 10}", loss=f"{1 + (r % 9000) / 1000:.4f}",
                      kv=f"{(r % 1000) / 10:.1f}")
    try:
        return tmpl.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        return tmpl


class LogError(Exception):
    """A kubelet-side refusal: becomes a 400 BadRequest Status."""


def _statuses(pod: dict) -> list[dict]:
    st = pod.get("status") or {}
    return list(st.get("containerStatuses") or []) + list(st.get("initContainerStatuses") or [])


def container_status(pod: dict, container: str) -> dict | None:
    for cs in _statuses(pod):
        if cs.get("name") == container:
            return cs
    return None


def select_instance(pod: dict, container: str, previous: bool) -> Instance:
    """The container run whose log a kubelet would read (the current one, or ``previous``).

    Raises LogError with the real kubelet messages when there is nothing to read.
    """
    name = (pod.get("metadata") or {}).get("name", "")
    cs = container_status(pod, container) or {}
    restarts = int(cs.get("restartCount") or 0)
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated")
    spec = log_spec(pod, container)
    if previous:
        if not last or restarts < 1:
            raise LogError(f'previous terminated container "{container}" in pod "{name}" not found')
        return _from_terminated(pod, container, restarts - 1, last, spec)
    if "running" in state:
        started = parse_time((state["running"] or {}).get("startedAt")) or 0.0
        return Instance(pod, container, restarts, started, None, None, spec)
    if "terminated" in state:
        return _from_terminated(pod, container, restarts, state["terminated"] or {}, spec)
    if last:  # waiting (CrashLoopBackOff): the kubelet serves the most recent, dead, container
        return _from_terminated(pod, container, max(restarts - 1, 0), last, spec)
    reason = ((state.get("waiting") or {}).get("reason")) or "ContainerCreating"
    raise LogError(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def _from_terminated(pod: dict, container: str, number: int, term: dict, spec: LogSpec) -> Instance:
    finished = parse_time(term.get("finishedAt")) or 0.0
    started = parse_time(term.get("startedAt")) or finished - 1.0
    return Instance(pod, container, number, min(started, finished), finished, term.get("exitCode"), spec)


@dataclass(frozen=True)
class LogQuery:
    """The pods/log query parameters the kubelet honours."""

    tail_lines: int | None = None
    since: float | None = None  # epoch seconds (from sinceSeconds or sinceTime)
    timestamps: bool = False
    limit_bytes: int | None = None
    follow: bool = False
    previous: bool = False


def initial_range(inst: Instance, q: LogQuery, now: float) -> tuple[int, int]:
    """[start, end) of the lines to send before following."""
    end = inst.total(now)
    start = inst.first_kept(now)
    if q.since is not None:
        start = max(start, min(end, inst.first_at_or_after(q.since)))
    if q.tail_lines is not None:
        start = max(start, end - max(q.tail_lines, 0))
    return start, end


def format_line(ts: float, text: str, timestamps: bool) -> bytes:
    return ((rfc3339nano(ts) + " " if timestamps else "") + text + "\n").encode()
