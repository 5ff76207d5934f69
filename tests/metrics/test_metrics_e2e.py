"""``kubectl lws metrics`` end to end: the real CLI against the sandbox's pod proxy and simulated servers.

demo/healthy (3 x 4, vLLM on 8080): group 1 is slow (TTFT, KV cache near full, a growing queue), group 2's
server does not answer yet. ``serve/knobs`` gives one group per failure a scrape can meet.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from cliutil import requests_made, run_cli, run_on_pty

PROXY = "/api/v1/namespaces/demo/pods/"
FIELDS = ["index", "role", "slice", "revision", "lws", "pods", "scrape", "running", "waiting", "kvCacheUsage", "promptTokensPerSec",
          "generationTokensPerSec", "ttft", "itl", "preemptions", "finished", "outlier"]


@pytest.fixture(scope="module")
def demo(sandbox, tmp_path_factory):
    sandbox.load_scenario("demo")
    sandbox.wait_settled(60)
    return sandbox.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig.yaml", namespace="demo")


def _lws(name: str, ns: str, replicas: int, command: str, serve: dict, *, worker_serve: dict | None = None,
         size: int = 1) -> dict:
    def tpl(stack: dict | None) -> dict:
        meta = {"annotations": {"sandbox.kubectl-lws.dev/stack": json.dumps({"serve": stack})}} if stack else {}
        return {"metadata": meta, "spec": {"containers": [{"name": "main", "image": "lmsysorg/sglang:v0.5",
                                                           "command": ["sh", "-c", command],
                                                           "resources": {"requests": {"cpu": "100m"}}}]}}
    lwt: dict = {"size": size, "leaderTemplate": tpl(serve), "workerTemplate": tpl(worker_serve)}
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": ns}, "spec": {"replicas": replicas, "leaderWorkerTemplate": lwt}}


KNOBS = {"0": {"hang": True}, "1": {"metrics": "off"}, "2": {"body": "malformed"}, "3": {"body": "huge"},
         "4": {"body": "nan"}, "5": {}, "6": {"down": True}, "7": {"body": "hostile"}}


@pytest.fixture(scope="module")
def knobs(sandbox, demo, tmp_path_factory):
    sglang = "python3 -m sglang.launch_server --model-path Qwen/Qwen3-32B --port 30001 --enable-metrics"
    wide = ("vllm serve m --port 8200 --data-parallel-size 4 --data-parallel-size-local 2 "
            "--data-parallel-address $(LWS_LEADER_ADDRESS) --enable-expert-parallel")
    sandbox.load_scenario({"namespaces": ["serve"], "objects": [
        _lws("knobs", "serve", 8, sglang, {"port": 30001, "model": "Qwen/Qwen3-32B", "groups": KNOBS}),
        _lws("wide", "serve", 2, wide, {"port": 8200, "model": "m"}, worker_serve={"port": 8200, "model": "m"},
             size=2)]})
    sandbox.wait_settled(60)
    return sandbox.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig.yaml", namespace="serve")


def test_slow_group_flagged_silent_one_says_why(sandbox, demo):
    r, reqs = requests_made(sandbox, lambda: run_cli(["metrics", "healthy", "-o", "json", "--interval", "1s"],
                                                    kubeconfig=demo))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["engine"] == "vllm" and list(doc) == ["kind", "name", "namespace", "engine", "interval", "groups",
                                                     "totals"]
    g0, g1, g2 = doc["groups"]
    assert [list(g) for g in doc["groups"]] == [FIELDS] * 3
    assert g0["scrape"] == "ok" and g0["outlier"] is None and g0["generationTokensPerSec"] > 500
    assert 0 < g0["kvCacheUsage"] < 0.9 and g0["ttft"]["p50"] < 1 and set(g0["ttft"]) == {"p50", "p95", "p99"}
    assert g1["scrape"] == "ok" and g1["kvCacheUsage"] > 0.95
    assert "KV cache" in g1["outlier"] and "waiting requests grow" in g1["outlier"]
    assert g2["scrape"] == "connection refused: nothing listens on 8080 (yet)"
    assert g2["outlier"] == "no answer: connection refused: nothing listens on 8080 (yet)"
    assert g2["pods"] == ["healthy-2"] and g2["running"] is None
    assert doc["totals"]["generationTokensPerSec"] == pytest.approx(
        g0["generationTokensPerSec"] + g1["generationTokensPerSec"], abs=0.2)
    # one GET, one LIST, then two scrapes of each leader through the pod proxy, and nothing else
    paths = [p for _, p, _ in reqs]
    assert paths[0].endswith("/leaderworkersets/healthy") and paths[1] == "/api/v1/namespaces/demo/pods"
    assert sorted(paths[2:]) == sorted([f"{PROXY}healthy-{g}:8080/proxy/metrics" for g in (0, 1, 2)] * 2)


def test_table_and_exit_code(demo):
    r = run_cli(["metrics", "healthy", "--interval", "500ms", "--exit-code"], kubeconfig=demo)
    assert r.exit_code == 3, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "LeaderWorkerSet: healthy (demo)"
    assert lines[1].startswith("Engine:   vLLM; 2/3 groups answered; window 0.5s")
    assert lines[3].split()[:4] == ["GROUP", "RUNNING", "WAITING", "KV"]
    assert lines[-3] == "Outliers:" and lines[-2].startswith("  group 1: ")
    assert lines[-1] == "  group 2: no answer: connection refused: nothing listens on 8080 (yet)"
    r = run_cli(["metrics", "healthy", "-g", "0", "--interval", "300ms", "--exit-code"], kubeconfig=demo)
    assert r.exit_code == 0 and "Outliers" not in r.stdout


def test_each_failure_said_as_such(knobs):
    r = run_cli(["metrics", "knobs", "-o", "json", "--interval", "300ms", "--scrape-timeout", "1s"],
                kubeconfig=knobs)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    scrape = {g["index"]: g["scrape"] for g in doc["groups"]}
    assert doc["engine"] == "sglang"
    assert scrape[0] == "no answer in 1s (timeout)"
    assert scrape[1] == "HTTP 404: no /metrics on this port (SGLang serves it only with --enable-metrics)"
    assert scrape[2].startswith("malformed metrics page: ")
    assert scrape[3] == "metrics page over 10 MB: not read"
    assert scrape[4] == "ok" and scrape[5] == "ok"
    assert scrape[6] == "connection refused: nothing listens on 30001 (yet)"
    assert scrape[7].startswith("malformed metrics page: ")
    nan = doc["groups"][4]
    assert nan["running"] is None and nan["kvCacheUsage"] is None and nan["generationTokensPerSec"] is None
    assert doc["groups"][5]["generationTokensPerSec"] > 0


def test_page_text_never_reaches_the_terminal_raw(knobs):
    r = run_cli(["metrics", "knobs", "-g", "7", "-g", "5", "--interval", "300ms"], kubeconfig=knobs)
    assert r.exit_code == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "malformed metrics page" in r.stdout


def test_every_pod_of_a_data_parallel_group_is_scraped(knobs):
    r = run_cli(["metrics", "wide", "-o", "json", "--interval", "300ms"], kubeconfig=knobs)
    doc = json.loads(r.stdout)
    assert [g["pods"] for g in doc["groups"]] == [["wide-0", "wide-0-1"], ["wide-1", "wide-1-1"]]
    assert all(g["scrape"] == "ok" for g in doc["groups"])


def test_pods_proxy_forbidden_is_one_line(sandbox, demo, tmp_path):
    sandbox.add_token("no-proxy", "reader", [{"verbs": ["get", "list", "watch"],
                                              "resources": ["pods", "leaderworkersets"]}])
    kc = sandbox.write_kubeconfig(tmp_path / "kc.yaml", token="no-proxy", namespace="demo")
    r, reqs = requests_made(sandbox, lambda: run_cli(["metrics", "healthy"], kubeconfig=kc))
    assert r.exit_code == 1
    assert r.stderr == "error: cannot read metrics: pods/proxy get forbidden in demo\n" and r.stdout == ""
    assert sum(1 for _, p, _ in reqs if "/proxy/" in p) == 1  # nothing else tried


def test_watch_prints_plain_snapshots_off_a_terminal(demo):
    r = run_cli(["metrics", "healthy", "-w", "--interval", "500ms", "--timeout", "2500ms"], kubeconfig=demo)
    assert r.exit_code == 0, r.stderr
    snapshots = r.stdout.split("\n\nLeaderWorkerSet: ")
    assert len(snapshots) >= 2 and "\x1b" not in r.stdout
    assert all("Outliers:" in s for s in snapshots)


def test_watch_draws_a_live_rich_table_on_a_terminal(demo):
    env = {"KUBECONFIG": demo, "LINES": "30", "COLUMNS": "160", "TERM": "xterm", "PATH": "/usr/bin:/bin"}
    code, screen = run_on_pty(["metrics", "healthy", "-w", "--interval", "500ms", "--timeout", "3s"], env=env)
    assert code == 0, screen
    assert "\x1b[?1049h" in screen and "\x1b[?1049l" in screen  # the alternate screen, left at the end
    assert "\x1b[31m" in screen  # outliers in red
    last = screen.split("\x1b[H\x1b[2J")[-1]
    assert "Every 0.5s" in last and "TOTAL" in last and "group 2: no answer" in last


def test_watch_with_no_color_on_a_terminal_prints_snapshots(demo):
    env = {"KUBECONFIG": demo, "LINES": "30", "COLUMNS": "160", "TERM": "xterm", "NO_COLOR": "1",
           "PATH": "/usr/bin:/bin"}
    code, screen = run_on_pty(["metrics", "healthy", "-w", "--interval", "500ms", "--timeout", "2s"], env=env)
    assert code == 0, screen
    assert "\x1b[" not in screen and screen.count("LeaderWorkerSet: healthy (demo)") >= 2


def test_bad_input_is_refused_before_any_request(sandbox, demo):
    r, reqs = requests_made(sandbox, lambda: run_cli(["metrics", "healthy", "--role", "decode"], kubeconfig=demo))
    assert r.exit_code == 2 and "--role and --slice apply to a DisaggregatedSet" in r.stderr and reqs == []
    r = run_cli(["metrics", "healthy", "--interval", "0"], kubeconfig=demo)
    assert r.exit_code == 2 and "--interval" in r.stderr
    r = run_cli(["metrics", "healthy", "-g", "7"], kubeconfig=demo)
    assert r.exit_code == 2 and "group 7 does not exist" in r.stderr
    r = run_cli(["metrics", "Bad_Name"], kubeconfig=demo)
    assert r.exit_code == 2


# ---- DisaggregatedSets (ds/NAME): the demo's sets in namespace pd ---------------------------------------

DS_API = "/apis/disaggregatedset.x-k8s.io/v1/namespaces/pd/disaggregatedsets/"


def test_ds_every_group_of_every_child_by_role_slice_and_revision(sandbox, demo):
    r, reqs = requests_made(sandbox, lambda: run_cli(["metrics", "ds/pd-rolling", "-n", "pd", "-o", "json",
                                                      "--interval", "500ms"], kubeconfig=demo))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "DisaggregatedSetMetrics" and doc["name"] == "pd-rolling" and doc["engine"] == "vllm"
    groups = doc["groups"]
    assert [list(g) for g in groups] == [FIELDS] * len(groups)
    # mid-rollout: both revisions serve in every role and slice (prefill 2 per slice, decode 1)
    assert {(g["role"], g["slice"]) for g in groups} == {(r_, s) for r_ in ("prefill", "decode") for s in "01"}
    assert [g["role"] for g in groups] == sorted((g["role"] for g in groups), key=["prefill", "decode"].index)
    assert len({g["revision"] for g in groups}) == 2
    for g in groups:
        assert g["lws"] == f"pd-rolling-{g['slice']}-{g['revision']}-{g['role']}"
        assert all(p.startswith(g["lws"] + "-") for p in g["pods"]) and g["scrape"] == "ok"
    assert {(x["role"], x["slice"]) for x in doc["roles"]} == {(r_, s) for r_ in ("prefill", "decode") for s in "01"}
    assert doc["totals"]["generationTokensPerSec"] == pytest.approx(
        sum(g["generationTokensPerSec"] for g in groups), abs=0.5)
    # the set, its child LWS and its pods (both by its name label), then two scrapes per leader: nothing else
    paths = [p for _, p, _ in reqs]
    assert paths[0] == DS_API + "pd-rolling"
    assert paths[1] == "/apis/leaderworkerset.x-k8s.io/v1/namespaces/pd/leaderworkersets"
    assert paths[2] == "/api/v1/namespaces/pd/pods"
    assert all("disaggregatedset.x-k8s.io/name=pd-rolling" in unquote(q) for _, _, q in reqs[1:3])
    assert sorted(paths[3:]) == sorted(f"/api/v1/namespaces/pd/pods/{g['pods'][0]}:8000/proxy/metrics"
                                       for g in groups for _ in range(2))


def test_ds_role_and_slice_narrow_it(demo):
    r = run_cli(["metrics", "ds/pd-rolling", "-n", "pd", "--role", "decode", "--slice", "1", "-o", "json",
                 "--interval", "300ms"], kubeconfig=demo)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {(g["role"], g["slice"]) for g in doc["groups"]} == {("decode", "1")} and len(doc["groups"]) == 2
    assert "roles" not in doc  # one role and slice: the totals say it


def test_ds_table_names_role_slice_revision_and_a_pending_group(demo):
    r = run_cli(["metrics", "ds/pd-stalled", "-n", "pd", "--interval", "300ms", "--exit-code"], kubeconfig=demo)
    assert r.exit_code == 3, r.stderr  # the new decode leader cannot be scheduled: an outlier
    lines = r.stdout.splitlines()
    assert lines[0] == "DisaggregatedSet: pd-stalled (pd)"
    assert lines[1].startswith("Engine:   vLLM; 3/4 groups answered")
    assert lines[3].split()[:4] == ["ROLE", "SLICE", "REVISION", "GROUP"]
    assert any(line.split()[:2] == ["prefill", "0"] and line.split()[3] == "total" for line in lines)
    assert lines[-2] == "Outliers:"
    assert lines[-1].startswith("  decode group 0 slice 0 (revision ")
    assert lines[-1].endswith("): no answer: leader Pending: not scraped")
    ok = run_cli(["metrics", "ds/pd-stalled", "-n", "pd", "--role", "prefill", "--interval", "300ms", "--exit-code"],
                 kubeconfig=demo)
    assert ok.exit_code == 0 and "Outliers" not in ok.stdout and "decode" not in ok.stdout


def test_ds_watch_follows_the_set(demo):
    r = run_cli(["metrics", "ds/pd-rolling", "-n", "pd", "--role", "prefill", "-w", "-o", "json",
                 "--interval", "500ms", "--timeout", "2500ms"], kubeconfig=demo)
    assert r.exit_code == 0, r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(docs) >= 2 and all(d["kind"] == "DisaggregatedSetMetrics" for d in docs)
    assert all({g["role"] for g in d["groups"]} == {"prefill"} and len(d["groups"]) == 6 for d in docs)


@pytest.mark.parametrize("args, code, words", [
    (["ds/pd-rolling", "--role", "router"], 2, 'role "router" does not exist in disaggregatedset "pd-rolling" '
                                               "(roles: prefill, decode)"),
    (["ds/pd-rolling", "--slice", "2"], 2, 'slice 2 does not exist in disaggregatedset "pd-rolling" (slices: 0-1)'),
    (["ds/pd-rolling", "-g", "4"], 2, "group 4 does not exist: the chosen child LWS of disaggregatedset pd-rolling "
                                      "have groups 0-1"),
    (["ds/pd-rolling", "-w", "--role", "router"], 2, 'role "router" does not exist'),
    (["ds/pd-rollin"], 1, 'did you mean "ds/pd-rolling"'),
    (["dsx/pd-rolling"], 2, '"dsx/" is not a kind kubectl lws knows'),
])
def test_ds_bad_input_one_line_and_no_scrape(sandbox, demo, args, code, words):
    r, reqs = requests_made(sandbox, lambda: run_cli(["metrics", *args, "-n", "pd"], kubeconfig=demo))
    assert r.exit_code == code and words in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr and r.stdout == ""
    assert not any("/proxy/" in p for _, p, _ in reqs)
