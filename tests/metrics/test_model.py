"""model/metrics: pages of vLLM and SGLang (recorded-style, tests/metrics/data) read into the numbers shown,
windows between two pages, quantiles as Prometheus computes them, outliers, endpoints from the templates."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kubectl_lws.model import metrics as M
from kubectl_lws.model.groups import Group, lws_view

DATA = Path(__file__).parent / "data"


def page(name: str) -> str:
    return (DATA / name).read_text()


def window_of(engine: str) -> M.Window:
    return M.window(M.read_page(page(f"{engine}-t600.txt"), 0.0), M.read_page(page(f"{engine}-t602.txt"), 2.0))


def test_vllm_page_read():
    s = M.read_page(page("vllm-v0.10-t600.txt").encode(), 1.0)
    assert s.engine == "vllm"
    assert (s.running, s.waiting, s.kv) == (14.0, 2.0, 0.4312)
    assert s.prompt == 1024.0 * 2400 and s.generation == 256.0 * 2400
    assert s.finished == {"stop": 2052.0, "length": 300.0, "abort": 48.0}
    assert s.ttft is not None and s.ttft.count == 2400 and len(s.ttft.buckets) == 23
    assert s.itl is not None and len(s.itl.buckets) == 20  # inter_token_latency_seconds, not the deprecated twin


def test_sglang_page_read():
    s = M.read_page(page("sglang-t600.txt"), 1.0)
    assert s.engine == "sglang"
    assert (s.running, s.waiting, s.kv) == (11.0, 3.0, 0.62)
    assert s.finished == {"finished": 1800.0, "aborted": 18.0}
    assert s.preemptions == 30.0
    assert s.ttft is not None and len(s.ttft.buckets) == 19


@pytest.mark.parametrize("engine, prompt, generation", [("vllm-v0.10", 4096.0, 1024.0), ("sglang", 2700.0, 900.0)])
def test_window_rates_and_quantiles(engine, prompt, generation):
    w = window_of(engine)
    assert w.prompt_rate == pytest.approx(prompt) and w.generation_rate == pytest.approx(generation)
    g = M.combine(0, None, None, ["pod"], [w])
    doc = M.group_doc(g)
    assert doc["scrape"] == "ok" and doc["outlier"] is None
    # the window's observations only: a lognormal around the page's median
    assert 0.05 < doc["ttft"]["p50"] < doc["ttft"]["p95"] <= doc["ttft"]["p99"] < 1.0
    assert doc["itl"]["p50"] < doc["itl"]["p99"] < 0.1
    json.dumps(doc, allow_nan=False)


def test_quantile_as_prometheus_does():
    h = M.Histogram({0.1: 10.0, 0.5: 30.0, 1.0: 40.0, math.inf: 40.0})
    assert h.quantile(0.5) == pytest.approx(0.1 + 0.4 * (20 - 10) / 20)
    assert h.quantile(0.25) == pytest.approx(0.1)
    assert h.quantile(0.1) == pytest.approx(0.04)  # first bucket: from 0
    over = M.Histogram({0.1: 1.0, 1.0: 2.0, math.inf: 10.0})
    assert over.quantile(0.99) == 1.0  # in +Inf: the last finite bound
    assert M.Histogram({0.1: 0.0, math.inf: 0.0}).quantile(0.5) is None


def test_counter_reset_counts_from_zero():
    old = M.Snapshot("vllm", 0.0, generation=1000.0, ttft=M.Histogram({1.0: 50.0, math.inf: 60.0}))
    new = M.Snapshot("vllm", 2.0, generation=100.0, ttft=M.Histogram({1.0: 5.0, math.inf: 6.0}))
    w = M.window(old, new)
    assert w.generation_rate == 50.0
    assert w.ttft is not None and w.ttft.count == 6.0


def test_nan_and_inf_are_not_numbers():
    text = page("vllm-v0.10-t600.txt")
    text = text.replace('vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 14.0',
                        'vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} NaN')
    text = text.replace('vllm:generation_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 614400.0',
                        'vllm:generation_tokens_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} +Inf')
    bucket = 'vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="meta-llama/Llama-3.1-8B-Instruct"}'
    text = "\n".join(f"{bucket} NaN" if line.startswith(bucket) else line for line in text.splitlines()) + "\n"
    s = M.read_page(text, 0.0)
    assert s.running is None and s.generation is None and s.ttft is None
    g = M.combine(0, None, None, ["p"], [M.window(s, M.read_page(text, 2.0))])
    doc = M.group_doc(g)
    assert doc["running"] is None and doc["generationTokensPerSec"] is None and doc["ttft"]["p50"] is None
    json.dumps(doc, allow_nan=False)


@pytest.mark.parametrize("body, reason", [
    (b"\xff\xfe not text", "not UTF-8"),
    (b"<html>502 Bad Gateway</html>", "metrics not recognised"),
    (b"# TYPE node_load1 gauge\nnode_load1 0.5\n", "metrics not recognised"),
    (b"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{engine=\"0\" 3\n", "malformed"),
    (b'vllm:num_requests_running{engine="0"} three\n', "malformed"),
    (b"# TYPE vllm:something_new gauge\nvllm:something_new 1\n", "vllm page without any of the metrics read here"),
])
def test_bad_pages_give_a_reason(body, reason):
    with pytest.raises(M.PageError) as err:
        M.read_page(body, 0.0)
    assert reason in str(err.value)


def _group(g: int, rate: float, kv: float = 0.5, waiting: tuple = (1, 1), role: str | None = None) -> M.GroupMetrics:
    w = M.Window("vllm", 2.0, 4.0, float(waiting[1]), float(waiting[0]), kv, 100.0, rate, 0.0, {}, None, None)
    return M.combine(g, role, None, [f"p-{g}"], [w])


def test_outliers():
    groups = [_group(0, 200.0), _group(1, 190.0), _group(2, 60.0), _group(3, 210.0, kv=0.97, waiting=(3, 9)),
              _group(4, 200.0, kv=0.97, waiting=(9, 3)), M.combine(5, None, None, ["p-5"], ["connection refused"])]
    M.mark_outliers(groups)
    out = [g.outlier for g in groups]
    assert out[0] is None and out[1] is None and out[4] is None  # full but draining: not an outlier
    assert out[2] == "generation 60.0 tok/s, under half the groups' median 200"
    assert out[3] == "KV cache 97% full while waiting requests grow (3 -> 9)"
    assert out[5] == "no answer: connection refused"
    t = M.numbers_doc(M.totals(groups))
    assert t["generationTokensPerSec"] == 860.0 and t["running"] == 20 and t["kvCacheUsage"] == pytest.approx(0.688)


def test_median_is_per_role():
    groups = [_group(0, 1000.0, role="prefill"), _group(1, 900.0, role="prefill"),
              _group(2, 100.0, role="decode"), _group(3, 90.0, role="decode")]
    M.mark_outliers(groups)
    assert [g.outlier for g in groups] == [None] * 4
    doc = M.metrics_doc("LeaderWorkerSetMetrics", "x", "ns", 2.0, groups)
    assert [(r["role"], r["generationTokensPerSec"]) for r in doc["roles"]] == [("prefill", 1900.0),
                                                                                 ("decode", 190.0)]


def _lws(leader_cmd: str, worker_cmd: str | None = None, size: int = 2) -> object:
    def tpl(cmd):
        return {"spec": {"containers": [{"name": "main", "image": "vllm/vllm-openai", "command": ["sh", "-c", cmd]}]}}

    lwt = {"size": size, "workerTemplate": tpl(worker_cmd or leader_cmd)}
    if worker_cmd:
        lwt["leaderTemplate"] = tpl(leader_cmd)
    return lws_view({"metadata": {"name": "x", "namespace": "ns"}, "spec": {"replicas": 2, "leaderWorkerTemplate": lwt}})


def test_plan_leader_serving_port():
    view = _lws("ray start --head && vllm serve m --port 8080", "ray start --address=$(LWS_LEADER_ADDRESS):6379 --block")
    plan = M.serve_plan(view)
    assert (plan.kind, plan.port, plan.worker_port, plan.why) == ("vllm", 8080, None, "")
    sg = M.serve_plan(_lws("python3 -m sglang.launch_server --model m --nnodes 2 --node-rank $(LWS_WORKER_INDEX)"))
    assert (sg.kind, sg.port, sg.worker_port) == ("sglang", 30000, None)


def test_plan_every_pod_serves_in_data_parallel_without_headless():
    wide = "vllm serve m --port 8200 --data-parallel-size 16 --data-parallel-size-local 8 " \
           "--data-parallel-address $(LWS_LEADER_ADDRESS) --enable-expert-parallel"
    plan = M.serve_plan(_lws(wide, wide + " --data-parallel-start-rank 8"))
    assert (plan.port, plan.worker_port) == (8200, 8200)
    headless = M.serve_plan(_lws(wide, wide + " --headless --data-parallel-start-rank 8"))
    assert headless.worker_port is None


def test_plan_not_recognised_and_port_override():
    view = _lws("nginx -g 'daemon off;'")
    assert "give --port" in M.serve_plan(view).why
    plan = M.serve_plan(view, port=9090, all_pods=True)
    assert (plan.port, plan.worker_port, plan.why) == (9090, 9090, "")


def test_targets_skip_pods_that_cannot_answer():
    plan = M.ServePlan("vllm", 8000, 8000)
    pods = [{"metadata": {"name": "x-0", "labels": {"leaderworkerset.sigs.k8s.io/worker-index": "0"}},
             "status": {"phase": "Running", "podIP": "10.0.0.1"}},
            {"metadata": {"name": "x-0-1", "labels": {"leaderworkerset.sigs.k8s.io/worker-index": "1"}},
             "status": {"phase": "Pending"}}]
    got = M.targets(Group(0, pods), plan, 3)
    assert [(t.pod, t.skip) for t in got] == [("x-0", ""), ("x-0-1", "worker 1 Pending: not scraped"),
                                              ("worker 2 (missing)", "worker 2 pod missing")]
