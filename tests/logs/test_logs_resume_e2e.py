"""Issue 16 items 8 and 11, end to end: a re-attached follow continues from the last line shown (after
a transient 500 or a stream cut) and never replays history; a follow whose API server is gone warns,
retries with back-off and gives up with exit 1 after --reconnect-timeout."""
from __future__ import annotations

import re
import signal
import time

from cliutil import run_cli

LOGS = {"rate": 20, "startup": ["start {pod} {container}", "ready {pod}"], "startup_gap": 0.01,
        "lines": ["tick {n} {pod}"]}


def _ticks(stdout: str, group: int) -> list[int]:
    return [int(m) for m in re.findall(rf"^g{group}/w0 tick (\d+) ", stdout, re.M)]


def _wait_ticks(lws, group: int, at_least: int) -> int:
    deadline = time.monotonic() + 20
    while True:
        out = run_cli(["logs", lws.name, "-g", str(group), "--tail", "1"], kubeconfig=lws.kubeconfig).stdout
        found = re.findall(r"tick (\d+) ", out)
        if found and int(found[-1]) >= at_least or time.monotonic() > deadline:
            return int(found[-1]) if found else 0
        time.sleep(0.2)


def test_a_transient_500_on_attach_does_not_replay_history(make_lws, spawn):
    lws = make_lws(replicas=2, size=1, logs=LOGS, name="r500")
    latest = _wait_ticks(lws, 1, 40)
    lws.sb.fault("fail-requests", path=f"/api/v1/namespaces/{lws.namespace}/pods/r500-1/log", status=500,
                 count=1)
    follow = spawn(["logs", "r500", "-g", "1", "-f", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("(pod r500-1, reconnected)")
    follow.wait_for("g1/w0 tick", stream="stdout")
    time.sleep(1.0)
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130
    ticks = _ticks(follow.stdout, 1)
    assert "start r500-1" not in follow.stdout and "ready r500-1" not in follow.stdout  # no history
    assert ticks and ticks[0] >= latest - 2, (latest, ticks[:5])
    assert ticks == list(range(ticks[0], ticks[-1] + 1))


def test_a_stream_cut_resumes_after_the_last_line_without_repeating_any(make_lws, spawn):
    lws = make_lws(replicas=1, size=1, logs=LOGS, name="rcut")
    _wait_ticks(lws, 0, 10)
    follow = spawn(["logs", "rcut", "-f", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("g0/w0 tick", stream="stdout")
    time.sleep(0.5)
    for _ in range(2):  # a reset inside the running log stream, twice
        assert lws.sb.fault("break-streams", kind="log")["streams"] >= 1
        before = follow.stderr.count("reconnected")
        deadline = time.monotonic() + 10
        while follow.stderr.count("reconnected") == before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.6)
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130
    assert follow.stderr.count("(pod rcut-0, reconnected)") == 2, follow.stderr
    ticks = _ticks(follow.stdout, 0)
    assert len(ticks) > 20
    assert ticks == list(range(ticks[0], ticks[-1] + 1)), ticks  # none lost, none repeated
    assert all(re.match(r"^g0/w0 tick \d+ rcut-0$", ln) for ln in follow.stdout.splitlines()), \
        "the kubelet stamps the resume uses must not leak into the output"


def test_follow_gives_up_when_the_server_is_gone(make_lws, spawn, cuttable_proxy, tmp_path):
    lws = make_lws(replicas=1, size=1, logs=LOGS, name="gone")
    kubeconfig = cuttable_proxy(lws, tmp_path)
    follow = spawn(["logs", "gone", "-f", "--tail", "1", "--reconnect-timeout", "3s"], kubeconfig)
    follow.wait_for("g0/w0 tick", stream="stdout")
    t0 = time.monotonic()
    cuttable_proxy.proxy.close()  # connections cut, and nothing listens any more
    code = follow.finish(30)
    elapsed = time.monotonic() - t0
    assert code == 1, follow.stderr
    assert "warning: lost the API server" in follow.stderr
    errors = [ln for ln in follow.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no answer from the API server" in errors[0] and "3s" in errors[0]
    assert "Traceback" not in follow.stderr
    assert 3 <= elapsed < 10, (elapsed, follow.stderr)
    assert follow.stderr.count("reconnected") == 0  # no marker while there is no server


def test_a_429_on_relist_is_waited_out_by_retry_after_without_a_lost_warning(make_lws, spawn):
    lws = make_lws(replicas=1, size=1, logs=LOGS, name="r429")
    follow = spawn(["logs", "r429", "-f", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("g0/w0 tick", stream="stdout")
    pods_path = f"/api/v1/namespaces/{lws.namespace}/pods"
    lws.sb.fault("fail-requests", path=pods_path, method="GET", status=429, retry_after=2, count=1)
    lws.sb.request_log.clear()
    lws.sb.fault("break-streams", kind="watch", mode="expire")  # the pod watch must list again: 429 first
    deadline = time.monotonic() + 10
    seen: dict[int, float] = {}
    while time.monotonic() < deadline and 200 not in seen:
        for method, path, query, status, _ms, _user in lws.sb.request_log.snapshot():
            if method == "GET" and path == pods_path and "watch" not in query:
                seen.setdefault(status, time.monotonic())
        time.sleep(0.02)
    assert 429 in seen and 200 in seen, seen
    assert seen[200] - seen[429] >= 1.7, seen  # Retry-After: 2 was honoured (not the 1 s default pause)
    time.sleep(0.5)
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130
    assert "lost the API server" not in follow.stderr, follow.stderr


def test_follow_rides_out_an_api_server_restart_without_losing_or_repeating_lines(make_lws, spawn):
    lws = make_lws(replicas=1, size=1, logs=LOGS, name="rst")
    follow = spawn(["logs", "rst", "-f", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("g0/w0 tick", stream="stdout")
    time.sleep(0.3)
    lws.sb.fault("restart-apiserver", down=2)  # same address, same token
    follow.wait_for("warning: lost the API server", timeout=10)
    follow.wait_for("note: the API server answers again", timeout=15)
    follow.wait_for("(pod rst-0, reconnected)", timeout=10)
    time.sleep(1.0)
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130
    ticks = _ticks(follow.stdout, 0)
    assert ticks == list(range(ticks[0], ticks[-1] + 1)), ticks  # the 2 s outage: nothing lost or repeated
    assert follow.stderr.count("reconnected") == 1, follow.stderr  # said once, when the server took it
