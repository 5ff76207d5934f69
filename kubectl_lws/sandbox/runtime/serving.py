"""Simulated inference servers behind the pod proxy: what a pod's vLLM or SGLang server answers on its port.

The sandbox runs no container processes, so ``GET /api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH`` is
answered here, in-process, from the pod and the ``serve`` part of annotation ``sandbox.kubectl-lws.dev/stack``
(stack.py). A pod serves when its own template carries ``serve`` (put it on the leader template for the usual
layouts, on both for data parallel with one API server per pod)::

    "serve": {"port": 8080, "model": "meta-llama/...", "engine": "vllm" | "sglang",  # default: from the command
              "rps": 4,                 # simulated requests per second (default 4)
              "profile": "slow",        # high TTFT, KV cache near full, a queue that grows, few tokens/s
              "readyAfter": 600,        # seconds after the pod started before anything listens (loading weights)
              "down": true,             # nothing listens (connection refused)
              "metrics": "off",         # /metrics is 404 (SGLang without --enable-metrics)
              "hang": true,             # accepts and never answers
              "body": "malformed" | "huge" | "nan" | "hostile",  # test knobs: a broken page, 11 MB, NaN/Inf
                                        # values, a broken line carrying terminal escape sequences
              "groups": {"1": {"profile": "slow"}, "2": {"readyAfter": 3600}}}   # per group index overrides

Counters and histograms advance with wall-clock time under a load that swings slowly (closed forms of time, so
two scrapes an interval apart see the rates and latencies the profile says). Pages are written as the real
servers write them: the names, types, labels and buckets of vLLM's v1 metrics loggers and SGLang's metrics
collector, prometheus_client's number format (tests/metrics/data holds recorded-style pages of both).
"""
from __future__ import annotations

import asyncio
import math
import time
import zlib
from functools import lru_cache
from typing import Any

from aiohttp import web

from .logs import parse_time
from .stack import stack_spec

_GROUP = "leaderworkerset.sigs.k8s.io/group-index"


class Refused(Exception):
    """Nothing listens on the port: the API server's proxy reports a dial error."""


def serve_spec(pod: dict) -> dict | None:
    """The pod's ``serve`` settings with its group's overrides, or None (the pod serves nothing)."""
    spec = stack_spec(pod) or {}
    serve = spec.get("serve")
    if not isinstance(serve, dict):
        return None
    group = ((pod.get("metadata") or {}).get("labels") or {}).get(_GROUP, "")
    extra = (serve.get("groups") or {}).get(str(group)) or {}
    return {**serve, **extra}


def engine_of(pod: dict, serve: dict) -> str:
    if serve.get("engine") in ("vllm", "sglang"):
        return serve["engine"]
    words = " ".join(str(w) for c in (pod.get("spec") or {}).get("containers") or []
                     for w in list(c.get("command") or []) + list(c.get("args") or []))
    return "sglang" if "sglang" in words else "vllm"


def started_at(pod: dict) -> float:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        t = parse_time(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
        if t:
            return t
    return parse_time(status.get("startTime")) or parse_time((pod.get("metadata") or {}).get("creationTimestamp")) \
        or time.time()


async def handle(pod: dict, port: int, path: str) -> web.StreamResponse:
    """What the pod's server answers on ``port`` for ``path``; Refused when nothing listens there."""
    serve = serve_spec(pod)
    if serve is None or int(serve.get("port", 8000)) != port or serve.get("down"):
        raise Refused()
    start = started_at(pod)
    now = time.time()
    if now - start < float(serve.get("readyAfter", 0) or 0):
        raise Refused()
    if serve.get("hang"):
        await asyncio.sleep(3600)  # the client gives up first; the sandbox's stop cancels us
        raise Refused()
    engine = engine_of(pod, serve)
    path = path.split("?", 1)[0]
    if path == "/metrics" and serve.get("metrics") != "off":
        return web.Response(body=page(pod, serve, engine, now - start, start).encode(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
    if path == "/health":
        return web.Response(status=int(serve.get("health", 200)), body=b"")
    if path == "/v1/models":
        model = str(serve.get("model", "model"))
        return web.json_response({"object": "list", "data": [{"id": model, "object": "model", "owned_by": engine,
                                                              "root": model}]})
    return web.Response(status=404, body=b'{"detail":"Not Found"}', content_type="application/json")


# ---- the page --------------------------------------------------------------------------------------------

def go_float(d: float) -> str:
    """prometheus_client's number format (floatToGoString): 1.0, 2.4576e+06, +Inf, NaN."""
    if d == math.inf:
        return "+Inf"
    if d == -math.inf:
        return "-Inf"
    if d != d:
        return "NaN"
    s = repr(float(d))
    dot = s.find(".")
    if d > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return s


def _labels(pairs: dict) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(pairs.items())) + "}"


@lru_cache(maxsize=64)
def _fractions(bounds: tuple[float, ...], median: float, sigma: float) -> tuple[float, ...]:
    """Share of a lognormal's observations at or under each bound."""
    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf((math.log(x) - math.log(median)) / (sigma * math.sqrt(2)))) if x > 0 else 0.0
    return tuple(cdf(b) for b in bounds)


VLLM_TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
             80.0, 160.0, 640.0, 2560.0)
VLLM_ITL = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)
VLLM_E2E = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
            960.0, 1920.0, 7680.0)
VLLM_TOKENS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
SGLANG_TTFT = (0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400)
SGLANG_ITL = (0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040, 0.060, 0.080, 0.100,
              0.200, 0.400, 0.600, 0.800, 1.000, 2.000, 4.000, 6.000, 8.000)
SGLANG_E2E = (0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 600, 1200, 1800, 2400)

# profile -> (TTFT median, ITL median, tokens/s share, KV cache base, prompt tokens, generation tokens per request)
PROFILES = {"normal": (0.12, 0.03, 1.0, 0.45, 1024, 256), "slow": (4.0, 0.11, 0.15, 0.97, 1024, 256)}
SWING, PERIOD = 0.25, 240.0


class _Page:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_: str, kind: str) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")

    def gauge(self, name: str, help_: str, labels: str, value: float) -> None:
        self.family(name, help_, "gauge")
        self.lines.append(f"{name}{labels} {go_float(value)}")

    def counter(self, name: str, help_: str, series: list[tuple[str, float]], created: float | None) -> None:
        self.family(name + "_total", help_, "counter")
        self.lines.extend(f"{name}_total{labels} {go_float(v)}" for labels, v in series)
        if created is not None:
            self.lines.extend(f"{name}_created{labels} {go_float(created)}" for labels, _ in series)

    def histogram(self, name: str, help_: str, labels: dict, bounds: tuple, n: float, median: float, sigma: float,
                  created: float | None, total_sum: float | None = None) -> None:
        self.family(name, help_, "histogram")
        for b, f in zip(bounds, _fractions(bounds, median, sigma)):
            self.lines.append(f"{name}_bucket{_labels({**labels, 'le': go_float(float(b))})} {go_float(float(round(n * f)))}")
        self.lines.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {go_float(float(round(n)))}")
        self.lines.append(f"{name}_count{_labels(labels)} {go_float(float(round(n)))}")
        s = total_sum if total_sum is not None else n * median * math.exp(sigma * sigma / 2)
        self.lines.append(f"{name}_sum{_labels(labels)} {go_float(round(s, 6))}")
        if created is not None:
            self.lines.append(f"{name}_created{_labels(labels)} {go_float(created)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def load(t: float, rps: float, phase: float) -> tuple[float, float]:
    """(requests finished by ``t``, the load factor now): a rate that swings +-25 % over 4 minutes."""
    w = 2 * math.pi / PERIOD
    done = rps * (t + SWING / w * (math.cos(phase) - math.cos(w * t + phase)))
    return max(0.0, done), 1 + SWING * math.sin(w * t + phase)


def page(pod: dict, serve: dict, engine: str, t: float, start: float) -> str:
    """The /metrics page ``t`` seconds after the server started."""
    knob = serve.get("body")
    if knob == "huge":
        return ("# padding " + "y" * 1013 + "\n") * (11 * 1024)  # 11 MB of comments
    profile = PROFILES.get(str(serve.get("profile", "normal")), PROFILES["normal"])
    ttft, itl, share, kv_base, prompt_len, gen_len = profile
    uid = (pod.get("metadata") or {}).get("uid") or (pod.get("metadata") or {}).get("name", "")
    phase = (zlib.crc32(uid.encode()) % 1000) / 1000 * 2 * math.pi
    t = max(0.0, t)
    rps = float(serve.get("rps", 4.0)) * (share if share < 1 else 1)
    n, factor = load(t, rps, phase)
    slow = serve.get("profile") == "slow"
    running = round(rps * 8.0 * factor) if t > 0 else 0
    waiting = 6 + int(t * 2) % 1800 if slow else max(0, round((factor - 1.1) * 20))
    kv = min(0.999, kv_base + (0.02 * math.sin(t / 7.0) if slow else 0.1 * (factor - 1))) if t > 0 else 0.0
    created = start
    model = str(serve.get("model", "model"))
    running_name = "sglang:num_running_reqs" if engine == "sglang" else "vllm:num_requests_running"
    if knob == "malformed":
        return f'# TYPE {running_name} gauge\n{running_name}{{model_name="{model}" 3\n'
    if knob == "hostile":
        return f'{running_name}{{model_name="\x1b]0;pwned\x07\x1b[2J"}} three\x1b[31m\n'
    nan = knob == "nan"
    if engine == "sglang":
        return _sglang(model, n, running, waiting, kv, ttft, itl, prompt_len, gen_len, nan)
    return _vllm(model, n, running, waiting, kv, ttft, itl, prompt_len, gen_len, created, nan)


def _vllm(model: str, n: float, running: float, waiting: float, kv: float, ttft: float, itl: float,
          prompt_len: int, gen_len: int, created: float, nan: bool) -> str:
    """vllm/v1/metrics/loggers.py: PrometheusStatLogger with one engine (labels model_name, engine)."""
    p = _Page()
    lab = {"engine": "0", "model_name": model}
    ls = _labels(lab)
    p.family("python_gc_objects_collected_total", "Objects collected during gc", "counter")
    p.lines.extend(f'python_gc_objects_collected_total{{generation="{g}"}} {go_float(v)}'
                   for g, v in ((0, 15273.0), (1, 3341.0), (2, 1022.0)))
    p.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", "", 2.48741888e+09)
    p.gauge("vllm:num_requests_running", "Number of requests in model execution batches.", ls,
            math.nan if nan else float(running))
    p.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", ls, float(waiting))
    p.gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use "
            "vllm:kv_cache_usage_perc instead.", ls, round(kv, 4))
    p.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", ls,
            math.nan if nan else round(kv, 4))
    p.counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
              [(ls, float(round(n * prompt_len)))], created)
    p.counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
              [(ls, float(round(n * prompt_len * 0.3)))], created)
    p.counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.",
              [(ls, float(int(n // 40)))], created)
    p.counter("vllm:prompt_tokens", "Number of prefill tokens processed.", [(ls, float(round(n * prompt_len)))],
              created)
    p.counter("vllm:generation_tokens", "Number of generation tokens processed.",
              [(ls, math.inf if nan else float(round(n * gen_len)))], created)
    done = int(n)
    length, abort = done // 8, done // 50
    p.counter("vllm:request_success", "Count of successfully processed requests.",
              [(_labels({**lab, "finished_reason": r}), float(v))
               for r, v in (("stop", done - length - abort), ("length", length), ("abort", abort))], created)
    p.histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", lab, VLLM_TOKENS, n,
                prompt_len, 0.3, created)
    p.histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", lab, VLLM_TOKENS, n,
                gen_len, 0.3, created)
    p.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", lab,
                VLLM_TTFT, n, ttft, 0.5, created)
    tokens = n * (gen_len - 1)
    p.histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.DEPRECATED: "
                "Use vllm:inter_token_latency_seconds instead.", lab, VLLM_ITL, tokens, itl, 0.35, created)
    p.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", lab, VLLM_ITL,
                tokens, itl, 0.35, created)
    e2e = ttft + itl * gen_len
    for name, help_, median in (
            ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", e2e),
            ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
             max(0.001, ttft / 3)),
            ("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.",
             e2e - ttft / 3),
            ("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
             ttft * 2 / 3),
            ("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
             itl * gen_len)):
        p.histogram(name, help_, lab, VLLM_E2E, n, median, 0.4, created)
    p.family("vllm:cache_config_info", "Information of the LLMEngine CacheConfig", "gauge")
    p.lines.append('vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",'
                   'engine="0",gpu_memory_utilization="0.9",num_gpu_blocks="29187"} 1.0')
    p.family("http_requests_total", "Total number of requests by method, status and handler.", "counter")
    p.lines.append(f'http_requests_total{{handler="/v1/completions",method="POST",status="2xx"}} {go_float(float(done))}')
    return p.text()


def _sglang(model: str, n: float, running: float, waiting: float, kv: float, ttft: float, itl: float,
            prompt_len: int, gen_len: int, nan: bool) -> str:
    """python/sglang/srt/metrics/collector.py, multiprocess mode (no _created samples)."""
    p = _Page()
    sched = _labels({"engine_type": "unified", "model_name": model, "pp_rank": "0", "tp_rank": "0"})
    tok = {"model_name": model}
    ts = _labels(tok)
    p.gauge("sglang:num_running_reqs", "The number of running requests.", sched, math.nan if nan else float(running))
    p.gauge("sglang:num_used_tokens", "The number of used tokens.", sched, float(round(kv * 120000)))
    p.gauge("sglang:token_usage", "The token usage.", sched, math.nan if nan else round(kv, 4))
    p.gauge("sglang:gen_throughput", "The generation throughput (token/s).", sched, 0.0)
    p.gauge("sglang:num_queue_reqs", "The number of requests in the waiting queue.", sched, float(waiting))
    p.gauge("sglang:cache_hit_rate", "The prefix cache hit rate.", sched, 0.3)
    p.counter("sglang:num_retracted_requests", "Total number of retracted requests.", [(sched, float(int(n // 40)))],
              None)
    p.counter("sglang:prompt_tokens", "Number of prefill tokens processed.", [(ts, float(round(n * prompt_len)))], None)
    p.counter("sglang:generation_tokens", "Number of generation tokens processed.",
              [(ts, math.inf if nan else float(round(n * gen_len)))], None)
    p.counter("sglang:num_requests", "Number of requests processed.", [(ts, float(int(n)))], None)
    p.counter("sglang:num_aborted_requests", "Number of requests aborted.", [(ts, float(int(n // 50)))], None)
    p.histogram("sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.", tok,
                SGLANG_TTFT, n, ttft, 0.5, None)
    tokens = n * (gen_len - 1)
    p.histogram("sglang:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", tok,
                SGLANG_ITL, tokens, itl, 0.35, None)
    p.histogram("sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds", tok,
                SGLANG_E2E, n, ttft + itl * gen_len, 0.4, None)
    return p.text()

