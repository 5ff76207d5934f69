"""Inference metrics per group: which endpoint serves, what its Prometheus page says, and what two pages
an interval apart mean (rates, windowed quantiles, outliers).

Pure functions over pod/LWS dicts and page text; the scraping itself is ``commands/metrics.py``. The metric
names and types read are vLLM's v1 metrics loggers and SGLang's metrics collector (docs/metrics.md has the
table and where each comes from). Pages are parsed by prometheus-client's text parser; before that, only the
lines of the families read here are kept (a real vLLM page is mostly histograms nobody shows here, and the
parser is pure Python: 512 groups scraped twice must not parse 50 MB of text).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from kubectl_lws.model import keys

VLLM, SGLANG = "vllm", "sglang"
NOT_RECOGNISED = "metrics not recognised (neither vllm: nor sglang: names)"
QUANTILES = (0.5, 0.95, 0.99)
KV_FULL = 0.95          # an outlier when over this and waiting requests grow
SLOW_FRACTION = 0.5     # an outlier when the generation rate is under this share of its role's median


@dataclass(frozen=True)
class EngineNames:
    """The sample names an engine exposes for each number (first found wins: newer names first)."""

    running: tuple[str, ...]
    waiting: tuple[str, ...]
    kv: tuple[str, ...]
    prompt: tuple[str, ...]        # counters, without _total
    generation: tuple[str, ...]
    ttft: tuple[str, ...]          # histograms, without _bucket
    itl: tuple[str, ...]
    preemptions: tuple[str, ...]
    finished: tuple[tuple[str, str], ...]  # (counter, "label=LABEL" naming the outcome, or the outcome itself)


ENGINES: dict[str, EngineNames] = {
    # vllm/v1/metrics/loggers.py (PrometheusStatLogger), vLLM docs/design/metrics.md
    VLLM: EngineNames(
        running=("vllm:num_requests_running",), waiting=("vllm:num_requests_waiting",),
        kv=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        prompt=("vllm:prompt_tokens",), generation=("vllm:generation_tokens",),
        ttft=("vllm:time_to_first_token_seconds",),
        itl=("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        preemptions=("vllm:num_preemptions",),
        finished=(("vllm:request_success", "label=finished_reason"),)),
    # python/sglang/srt/metrics/collector.py (SchedulerMetricsCollector, TokenizerMetricsCollector)
    SGLANG: EngineNames(
        running=("sglang:num_running_reqs",), waiting=("sglang:num_queue_reqs",), kv=("sglang:token_usage",),
        prompt=("sglang:prompt_tokens",), generation=("sglang:generation_tokens",),
        ttft=("sglang:time_to_first_token_seconds",), itl=("sglang:inter_token_latency_seconds",),
        preemptions=("sglang:num_retracted_requests",),
        finished=(("sglang:num_requests", "finished"), ("sglang:num_aborted_requests", "aborted"))),
}

_READ = sorted({n for e in ENGINES.values() for f in ("running", "waiting", "kv", "prompt", "generation", "ttft",
                                                       "itl", "preemptions") for n in getattr(e, f)}
               | {n for e in ENGINES.values() for n, _ in e.finished}, key=len, reverse=True)
# A line of a family read here: its HELP/TYPE comment or one of its samples (any suffix the format gives).
_KEEP = re.compile(r"^(?:# (?:HELP|TYPE) )?(?:" + "|".join(re.escape(n) for n in _READ) +
                   r")(?:_total|_bucket|_sum|_count)?(?=[ \t{]).*$", re.M)
_ENGINE_LINE = re.compile(r"^(?:# (?:HELP|TYPE) )?(vllm|sglang):", re.M)


class PageError(ValueError):
    """A page that cannot be read: the message is the group's scrape reason."""


# ---- one page ---------------------------------------------------------------------------------------

@dataclass
class Histogram:
    """Cumulative bucket counts by upper bound (``inf`` last), summed over the page's label sets."""

    buckets: dict[float, float]

    @property
    def count(self) -> float:
        return self.buckets.get(math.inf, max(self.buckets.values(), default=0.0))

    def minus(self, older: "Histogram | None") -> "Histogram | None":
        """The observations made between ``older`` and this one; a reset (fewer) counts from zero."""
        if older is None or set(older.buckets) != set(self.buckets) or older.count > self.count:
            return self
        return Histogram({le: max(0.0, c - older.buckets[le]) for le, c in self.buckets.items()})

    def plus(self, other: "Histogram | None") -> "Histogram | None":
        """Both together, when their buckets agree (one engine's histograms); else None."""
        if other is None:
            return self
        if set(other.buckets) != set(self.buckets):
            return None
        return Histogram({le: c + other.buckets[le] for le, c in self.buckets.items()})

    def quantile(self, q: float) -> float | None:
        """Prometheus's ``histogram_quantile``: linear inside the bucket; in +Inf, the last finite bound."""
        bounds = sorted(self.buckets)
        if not bounds or bounds[-1] != math.inf:
            return None
        total = self.buckets[math.inf]
        if total <= 0:
            return None
        rank = q * total
        seen = 0.0
        prev_bound, prev_count = 0.0, 0.0
        for le in bounds:
            count = max(self.buckets[le], seen)  # cumulative counts never go down
            seen = count
            if count >= rank:
                if le == math.inf:
                    return prev_bound if len(bounds) > 1 else None
                if le <= 0:
                    return le
                inside = count - prev_count
                lower = prev_bound if prev_bound > 0 or le > 0 else 0.0
                if inside <= 0:
                    return le
                return lower + (le - lower) * (rank - prev_count) / inside
            prev_bound, prev_count = le, count
        return None


@dataclass
class Snapshot:
    """What one scrape of one pod said, in the numbers read here (None: absent or not a number)."""

    engine: str
    t: float
    running: float | None = None
    waiting: float | None = None
    kv: float | None = None
    prompt: float | None = None
    generation: float | None = None
    preemptions: float | None = None
    finished: dict[str, float] = field(default_factory=dict)
    ttft: Histogram | None = None
    itl: Histogram | None = None


def keep_lines(text: str) -> str:
    """The lines of the families read here, in page order (HELP/TYPE kept, so the parser knows types)."""
    return "\n".join(m.group(0) for m in _KEEP.finditer(text)) + "\n"


def read_page(body: bytes | str, t: float) -> Snapshot:
    """Parse a /metrics page taken at monotonic time ``t``; PageError says why it cannot be read."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise PageError("malformed metrics page: not UTF-8 text") from None
    else:
        text = body
    kept = keep_lines(text)
    engine = _engine(kept) or _engine(text)
    if engine is None:
        raise PageError(NOT_RECOGNISED)
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    try:
        for family in text_string_to_metric_families(kept):
            for s in family.samples:
                samples.setdefault(s.name, []).append((s.labels, s.value))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise PageError(f"malformed metrics page: {_short(exc)}") from None
    if not samples:
        raise PageError(f"{engine} page without any of the metrics read here (see docs/metrics.md)")
    names = ENGINES[engine]
    snap = Snapshot(engine, t)
    snap.running = _sum(samples, names.running)
    snap.waiting = _sum(samples, names.waiting)
    snap.kv = _max(samples, names.kv)
    snap.prompt = _sum(samples, tuple(n + "_total" for n in names.prompt))
    snap.generation = _sum(samples, tuple(n + "_total" for n in names.generation))
    snap.preemptions = _sum(samples, tuple(n + "_total" for n in names.preemptions))
    for counter, label in names.finished:
        for labels, value in samples.get(counter + "_total", ()):
            outcome = labels.get(label[6:], "") if label.startswith("label=") else label
            if outcome and _finite(value):
                snap.finished[outcome] = snap.finished.get(outcome, 0.0) + value
    snap.ttft = _histogram(samples, names.ttft)
    snap.itl = _histogram(samples, names.itl)
    return snap


def _engine(text: str) -> str | None:
    m = _ENGINE_LINE.search(text)
    return m.group(1) if m else None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _values(samples: dict, names: Sequence[str]) -> list[float] | None:
    for name in names:
        found = samples.get(name)
        if found:
            values = [v for _, v in found if _finite(v)]
            return values or None
    return None


def _sum(samples: dict, names: Sequence[str]) -> float | None:
    values = _values(samples, names)
    return sum(values) if values else None


def _max(samples: dict, names: Sequence[str]) -> float | None:
    values = _values(samples, names)
    return max(values) if values else None


def _histogram(samples: dict, names: Sequence[str]) -> Histogram | None:
    """Buckets summed over the label sets (one per engine of a data-parallel server); NaN: unreadable."""
    for name in names:
        found = samples.get(name + "_bucket")
        if not found:
            continue
        buckets: dict[float, float] = {}
        for labels, value in found:
            try:
                le = float(labels.get("le", ""))
            except ValueError:
                return None
            if not _finite(value) or math.isnan(le):
                return None
            buckets[le] = buckets.get(le, 0.0) + value
        return Histogram(buckets) if math.inf in buckets else None
    return None


# ---- two pages: one window -----------------------------------------------------------------------

@dataclass
class Window:
    """One endpoint over one interval: gauges as of the second page, rates and counts in between."""

    engine: str
    seconds: float
    running: float | None
    waiting: float | None
    waiting_before: float | None
    kv: float | None
    prompt_rate: float | None
    generation_rate: float | None
    preemptions: float | None
    finished: dict[str, float]
    ttft: Histogram | None
    itl: Histogram | None


def _delta(new: float | None, old: float | None) -> float | None:
    if new is None or old is None:
        return None
    return new - old if new >= old else new  # a restart reset the counter


def window(old: Snapshot, new: Snapshot) -> Window:
    seconds = max(new.t - old.t, 1e-9)

    def rate(a: float | None, b: float | None) -> float | None:
        d = _delta(a, b)
        return None if d is None else d / seconds

    finished = {k: d for k, v in new.finished.items() if (d := _delta(v, old.finished.get(k, 0.0))) is not None}
    return Window(new.engine, seconds, new.running, new.waiting, old.waiting, new.kv,
                  rate(new.prompt, old.prompt), rate(new.generation, old.generation),
                  _delta(new.preemptions, old.preemptions), finished,
                  new.ttft.minus(old.ttft) if new.ttft else None, new.itl.minus(old.itl) if new.itl else None)


# ---- where to scrape ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServePlan:
    """Which pods of every group serve /metrics, and on which port (from the LWS templates)."""

    kind: str                 # vllm | sglang | "" (not recognised)
    port: int | None          # the leader's serving port
    worker_port: int | None   # workers serve too (data parallel with one API server per pod), on this port
    why: str = ""             # when nothing serves: the reason (a group's scrape reason)


def _template_pod(view: Any, template: dict, worker: int) -> dict:
    return {"metadata": {"name": f"{view.name}-template-{worker}",
                         "labels": {**((template.get("metadata") or {}).get("labels") or {}),
                                    keys.WORKER_INDEX_LABEL: str(worker)}},
            "spec": template.get("spec") or {}}


def _launch_port(launch: Any) -> int | None:
    from kubectl_lws.model import runtimecheck as rc

    default = rc.VLLM_DEFAULT_PORT if launch.kind == "vllm" else rc.SGLANG_DEFAULT_PORT
    flag = launch.flags.get("port")
    if flag is None:
        return default
    try:
        return int(str(flag.value))
    except (TypeError, ValueError):
        return None


def serve_plan(view: Any, port: int | None = None, all_pods: bool = False) -> ServePlan:
    """What ``verify runtime`` identifies, read from the templates: the leader's serving port for vLLM,
    SGLang and Ray layouts; every pod where each runs its own API server (vLLM data parallel without
    ``--headless``, as llm-d's wide-EP runs it). ``port`` overrides; ``all_pods`` scrapes every pod."""
    from kubectl_lws.model import runtimecheck as rc
    from kubectl_lws.model.groups import Group

    pods = [_template_pod(view, view.leader_template(), 0)]
    if view.size > 1:
        pods.append(_template_pod(view, view.worker_template(), 1))
    shape = rc.group_shape(view, Group(0, pods))
    leader_port, launch = rc.serving_port(shape)
    worker_port = None
    for stack in shape.workers:
        wl = stack.find("vllm")
        if wl is not None and "headless" not in wl.flags and any(
                f in wl.flags for f in ("data-parallel-size", "data-parallel-size-local", "data-parallel-start-rank",
                                        "data-parallel-rank")):
            worker_port = _launch_port(wl)
    if launch is not None and leader_port is None:
        why = "the leader's --port is not a number"
    elif launch is None and port is None:
        why = "no recognised vLLM or SGLang server in the leader: give --port"
    else:
        why = ""
    if port is not None:
        leader_port = port
        worker_port = port if (worker_port is not None or all_pods) else None
    elif all_pods and view.size > 1:
        worker_port = worker_port or leader_port
    return ServePlan(shape.kind if launch is not None else "", leader_port, worker_port, why)


@dataclass(frozen=True)
class Target:
    """One scrape: a pod and a port (``skip``: why it is not scraped, e.g. the pod is Pending)."""

    pod: str
    port: int | None
    skip: str = ""


def targets(group: Any, plan: ServePlan, size: int) -> list[Target]:
    """The scrapes of one group (pods ordered leader first); a missing or not-running pod is a skip."""
    from kubectl_lws.model.groups import pod_name

    wanted = [0] + (list(range(1, size)) if plan.worker_port is not None else [])
    out: list[Target] = []
    for wi in wanted:
        port = plan.port if wi == 0 else plan.worker_port
        pod = group.pod_for_worker(wi)
        who = "leader" if wi == 0 else f"worker {wi}"
        if pod is None:
            out.append(Target(f"{who} (missing)", port, f"{who} pod missing"))
            continue
        name = pod_name(pod)
        status = pod.get("status") or {}
        phase = status.get("phase") or "Pending"
        if plan.why:
            out.append(Target(name, port, plan.why))
        elif phase != "Running":
            out.append(Target(name, port, f"{who} {phase}: not scraped"))
        elif not status.get("podIP"):
            out.append(Target(name, port, f"{who} has no IP yet: not scraped"))
        else:
            out.append(Target(name, port))
    return out


# ---- groups, totals, outliers --------------------------------------------------------------------

@dataclass
class GroupMetrics:
    """One group's row (and the numbers totals are made of)."""

    index: int
    role: str | None
    slice: str | None
    pods: list[str]
    scrape: str = "ok"
    engine: str | None = None
    running: float | None = None
    waiting: float | None = None
    waiting_before: float | None = None
    kv: float | None = None
    prompt_rate: float | None = None
    generation_rate: float | None = None
    preemptions: float | None = None
    finished: dict[str, float] = field(default_factory=dict)
    ttft: Histogram | None = None
    itl: Histogram | None = None
    outlier: str | None = None
    revision: str | None = None  # a DisaggregatedSet's: during a rollout a role and slice run two
    lws: str | None = None       # the child LWS of a DisaggregatedSet the group belongs to

    @property
    def answered(self) -> bool:
        return self.engine is not None


def _add(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else a + b


def _sum_into(g: GroupMetrics, parts: Iterable[Any]) -> None:
    """Add windows (or groups) into ``g``: counts and rates summed, the fullest KV cache, histograms merged
    (None when their buckets disagree), the engine ``mixed`` when they differ."""
    first = True
    for p in parts:
        g.engine = p.engine if g.engine in (None, p.engine) else "mixed"
        for attr in ("running", "waiting", "waiting_before", "prompt_rate", "generation_rate", "preemptions"):
            setattr(g, attr, _add(getattr(g, attr), getattr(p, attr)))
        g.kv = p.kv if g.kv is None else (g.kv if p.kv is None else max(g.kv, p.kv))
        for k, v in p.finished.items():
            g.finished[k] = g.finished.get(k, 0.0) + v
        g.ttft = p.ttft if first else (g.ttft.plus(p.ttft) if g.ttft else None)
        g.itl = p.itl if first else (g.itl.plus(p.itl) if g.itl else None)
        first = False


def combine(index: int, role: str | None, slice_: str | None, pods: list[str],
            results: Sequence[Window | str], *, revision: str | None = None, lws: str | None = None) -> GroupMetrics:
    """A group from its endpoints' windows (or failure reasons); ``scrape`` is ok only when every endpoint
    answered."""
    g = GroupMetrics(index, role, slice_, pods, revision=revision, lws=lws)
    failures = [(pod, r) for pod, r in zip(pods, results) if isinstance(r, str)]
    if failures:
        g.scrape = failures[0][1] if len(pods) == 1 else "; ".join(f"{pod}: {why}" for pod, why in failures)
    _sum_into(g, [r for r in results if isinstance(r, Window)])
    return g


def _median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def mark_outliers(groups: Sequence[GroupMetrics]) -> None:
    """The reasons a group stands out: it does not answer; its generation rate is under half its role's
    median; its KV cache is over 95 % while its waiting requests grow."""
    medians: dict[tuple, float] = {}
    by_role: dict[tuple, list[float]] = {}
    for g in groups:
        if g.generation_rate is not None:
            by_role.setdefault((g.role, g.slice), []).append(g.generation_rate)
    for key, rates in by_role.items():
        if len(rates) > 1:
            medians[key] = _median(rates)
    for g in groups:
        reasons: list[str] = []
        if not g.answered:
            reasons.append(f"no answer: {g.scrape}")
        else:
            if g.scrape != "ok":
                reasons.append(f"partly answered: {g.scrape}")
            median = medians.get((g.role, g.slice))
            if median and g.generation_rate is not None and g.generation_rate < SLOW_FRACTION * median:
                who = "its role's" if g.role else "the groups'"
                reasons.append(f"generation {fmt_rate(g.generation_rate)} tok/s, under half {who} median "
                               f"{fmt_rate(median)}")
            if g.kv is not None and g.kv > KV_FULL and g.waiting is not None and g.waiting_before is not None \
                    and g.waiting > g.waiting_before:
                reasons.append(f"KV cache {g.kv * 100:.0f}% full while waiting requests grow "
                               f"({fmt_count(g.waiting_before)} -> {fmt_count(g.waiting)})")
        g.outlier = "; ".join(reasons) or None


def totals(groups: Sequence[GroupMetrics]) -> GroupMetrics:
    """Sums over the groups that answered; KV cache the mean; quantiles over every observation."""
    t = GroupMetrics(-1, None, None, [p for g in groups for p in g.pods])
    answered = [g for g in groups if g.answered]
    not_ok = sum(1 for g in groups if g.scrape != "ok")
    t.scrape = "ok" if not not_ok else f"{not_ok} of {len(groups)} groups not fully scraped"
    _sum_into(t, answered)
    kvs = [g.kv for g in answered if g.kv is not None]
    t.kv = sum(kvs) / len(kvs) if kvs else None
    return t


def role_totals(groups: Sequence[GroupMetrics]) -> list[GroupMetrics]:
    """Totals per (role, slice), in the order they first appear (DisaggregatedSets)."""
    order: list[tuple] = []
    parts: dict[tuple, list[GroupMetrics]] = {}
    for g in groups:
        key = (g.role, g.slice)
        if key not in parts:
            order.append(key)
        parts.setdefault(key, []).append(g)
    out = []
    for key in order:
        t = totals(parts[key])
        t.role, t.slice = key
        out.append(t)
    return out


# ---- the document -------------------------------------------------------------------------------------

def fmt_rate(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def fmt_count(v: float) -> str:
    return f"{v:g}" if v != int(v) else str(int(v))


def _num(v: float | None, digits: int) -> float | int | None:
    if v is None or not math.isfinite(v):
        return None
    r = round(v, digits)
    return int(r) if digits == 0 else r


def quantiles(h: Histogram | None) -> dict[str, float | None]:
    return {f"p{int(q * 100)}": _num(h.quantile(q) if h else None, 4) for q in QUANTILES}


def numbers_doc(g: GroupMetrics) -> dict:
    """The numbers of a group (or of the totals), as ``-o json`` gives them."""
    return {"running": _num(g.running, 0), "waiting": _num(g.waiting, 0), "kvCacheUsage": _num(g.kv, 4),
            "promptTokensPerSec": _num(g.prompt_rate, 1), "generationTokensPerSec": _num(g.generation_rate, 1),
            "ttft": quantiles(g.ttft), "itl": quantiles(g.itl), "preemptions": _num(g.preemptions, 0),
            "finished": {k: _num(v, 0) for k, v in sorted(g.finished.items())}}


def group_doc(g: GroupMetrics) -> dict:
    return {"index": g.index, "role": g.role, "slice": g.slice, "revision": g.revision, "lws": g.lws,
            "pods": list(g.pods), "scrape": g.scrape,
            **numbers_doc(g), "outlier": g.outlier}


def engine_of(groups: Iterable[GroupMetrics]) -> str | None:
    engines = {g.engine for g in groups if g.engine}
    if not engines:
        return None
    return engines.pop() if len(engines) == 1 else "mixed"


def metrics_doc(kind: str, name: str, namespace: str, interval: float, groups: Sequence[GroupMetrics]) -> dict:
    doc = {"kind": kind, "name": name, "namespace": namespace, "engine": engine_of(groups),
           "interval": round(interval, 3), "groups": [group_doc(g) for g in groups]}
    roles = role_totals(groups)
    if len(roles) > 1:
        doc["roles"] = [{"role": r.role, "slice": r.slice, **numbers_doc(r)} for r in roles]
    doc["totals"] = numbers_doc(totals(groups))
    return doc


# ---- role, slice and revision of a DisaggregatedSet's child LWS ------------------------------------------

def ds_scope(lws_labels: dict) -> tuple[str | None, str | None, str | None]:
    """A DisaggregatedSet's child LWS carries its role, slice and revision as labels; a plain LWS has none
    (a v0.9 child has no slice label: slice 0)."""
    role = lws_labels.get(keys.DS_ROLE_LABEL)
    if not role:
        return None, None, None
    return role, lws_labels.get(keys.DS_SLICE_LABEL) or "0", lws_labels.get(keys.DS_REVISION_LABEL)
