"""Log generation (pure) and pods/log over HTTP against the runtime; shapes follow golden/logs/*."""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request

import pytest

from kubectl_lws.sandbox.runtime.logs import (parse_time, Instance, LogError, LogQuery, LogSpec, initial_range, log_spec,
                                               rfc3339nano, select_instance, LOGS_ANNOTATION)

GOLDEN_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ")


def test_rfc3339nano_matches_golden_prefix():
    # golden: 2026-11-22T10:26:07.781000000Z
    ts = parse_time("2026-11-22T10:26:07.781Z")
    assert ts is not None
    assert rfc3339nano(ts) == "2026-11-22T10:26:07.781000000Z"


def test_instance_is_a_function_of_time():
    spec = LogSpec(rate=10.0, startup=("s{n}", "s{n}"), lines=("l{n}",), crash=("boom {exit_code}",), startup_gap=0.5)
    pod = {"metadata": {"uid": "u1", "name": "p"}}
    inst = Instance(pod, "c", 0, 1000.0, None, None, spec)
    assert inst.total(999.0) == 0
    assert inst.total(1000.0) == 1
    assert inst.total(1000.5) == 2
    assert inst.total(1001.0 + 0.1) == 3  # first periodic line at startup end + 1/rate
    assert [inst.line(i) for i in range(4)] == ["s1", "s2", "l1", "l2"]
    assert inst.time_of(2) == pytest.approx(1001.1)
    assert inst.first_at_or_after(1001.15) == 3
    again = Instance(pod, "c", 0, 1000.0, None, None, spec)
    assert [again.line(i) for i in range(10)] == [inst.line(i) for i in range(10)]
    done = Instance(pod, "c", 0, 1000.0, 1002.0, 3, spec)
    n = done.total(5000.0)
    assert done.line(n - 1) == "boom 3"  # the last line explains the crash
    assert done.total(5000.0) == done.total(9000.0)  # a finished instance does not grow
    times = [done.time_of(i) for i in range(n)]
    assert times == sorted(times)
    quick = Instance(pod, "c", 0, 1000.0, 1000.0, 1, spec)  # second-precision start == finish
    assert [quick.time_of(i) for i in range(quick.total(2000.0))] == [1000.0] * 2


def test_tail_and_since_ranges():
    spec = LogSpec(rate=1.0, startup=(), lines=("x",), startup_gap=0)
    inst = Instance({"metadata": {"uid": "u"}}, "c", 0, 0.0, None, None, spec)
    assert initial_range(inst, LogQuery(tail_lines=3), 100.0) == (97, 100)
    assert initial_range(inst, LogQuery(since=95.5), 100.0) == (95, 100)  # line 95 is at t=96
    assert initial_range(inst, LogQuery(since=200.0), 100.0) == (100, 100)
    assert initial_range(inst, LogQuery(tail_lines=0), 100.0) == (100, 100)


def test_annotation_with_per_container_override():
    ann = {LOGS_ANNOTATION: json.dumps({"rate": 3, "lines": ["a"], "containers": {"worker": {"rate": 500}}})}
    pod = {"metadata": {"annotations": ann}}
    assert log_spec(pod, "leader").rate == 3 and log_spec(pod, "leader").lines == ("a",)
    assert log_spec(pod, "worker").rate == 500 and log_spec(pod, "worker").lines == ("a",)


def test_previous_and_waiting_messages(pod_factory):
    pod = pod_factory("basic-1-2", container="worker")
    with pytest.raises(LogError, match='^previous terminated container "worker" in pod "basic-1-2" not found$'):
        select_instance(pod, "worker", previous=True)
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
    with pytest.raises(LogError, match='is waiting to start: ContainerCreating'):
        select_instance(pod, "worker", previous=False)


# ------------------------------------------------------------------------------------------- HTTP
def _get(h, path: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(h.url + path, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture(scope="module")
def pods(harness, pod_factory):
    now = time.time()
    harness.add_pod(pod_factory("basic-0", started=now - 20, restarts=1, last_finished=now - 21))
    harness.add_pod(pod_factory("basic-1-2", container="worker",
                                labels={"leaderworkerset.sigs.k8s.io/worker-index": "2"}))
    harness.add_pod(pod_factory("fast-0", started=now - 2,
                                annotations={LOGS_ANNOTATION: json.dumps({"rate": 200, "startup": []})}))
    return harness


def test_log_plain_is_chunked_text(pods):
    code, headers, body = _get(pods, "/api/v1/namespaces/golden/pods/basic-0/log?container=leader")
    assert code == 200
    assert headers["Content-Type"] == "text/plain"
    assert headers.get("Transfer-Encoding") == "chunked"
    lines = body.decode().splitlines()
    assert len(lines) >= 9 and "vLLM API server" in lines[0]


def test_log_tail_timestamps(pods):
    code, _, body = _get(pods, "/api/v1/namespaces/golden/pods/basic-0/log?container=leader&timestamps=true&tailLines=4")
    lines = body.decode().splitlines()
    assert code == 200 and len(lines) == 4
    assert all(GOLDEN_TS.match(l) for l in lines)
    _, _, plain = _get(pods, "/api/v1/namespaces/golden/pods/basic-0/log?container=leader&tailLines=4")
    # the same 4 lines (unless a new line landed in between), minus the prefix
    assert [l[31:] for l in lines][-1] in plain.decode().splitlines()[-2:]


def test_log_limit_bytes_cuts_mid_line(pods):
    code, _, body = _get(pods, "/api/v1/namespaces/golden/pods/basic-0/log?container=leader&limitBytes=100")
    assert code == 200 and len(body) == 100


def test_log_since_seconds_empty_when_quiet(pods, pod_factory):
    # golden: sinceSeconds=60 on a container whose last line is older -> 200, empty body
    ann = {LOGS_ANNOTATION: json.dumps({"rate": 0, "startup": ["only"]})}
    pods.add_pod(pod_factory("quiet-0", started=time.time() - 120, annotations=ann))
    code, _, body = _get(pods, "/api/v1/namespaces/golden/pods/quiet-0/log?sinceSeconds=60")
    assert (code, body) == (200, b"")
    _, _, all_ = _get(pods, "/api/v1/namespaces/golden/pods/quiet-0/log")
    assert all_ == b"only\n"


def test_log_previous(pods):
    code, _, body = _get(pods, "/api/v1/namespaces/golden/pods/basic-0/log?container=leader&previous=true")
    assert code == 200
    assert "exitcode 1" in body.decode().splitlines()[-1]
    code, _, body = _get(pods, "/api/v1/namespaces/golden/pods/basic-1-2/log?container=worker&previous=true")
    assert code == 400
    assert json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": 'previous terminated container "worker" in pod "basic-1-2" not found',
                                "reason": "BadRequest", "code": 400}


def test_log_follow_streams_and_ends_when_pod_goes(pods, pod_factory):
    pods.add_pod(pod_factory("follow-0", annotations={LOGS_ANNOTATION: json.dumps({"rate": 20, "startup": []})}))
    got: list[bytes] = []
    done = threading.Event()

    def reader() -> None:
        with urllib.request.urlopen(pods.url + "/api/v1/namespaces/golden/pods/follow-0/log?follow=true&tailLines=2",
                                    timeout=10) as r:
            while True:
                line = r.readline()
                if not line:
                    break
                got.append(line)
        done.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(1.0)
    n_before = len(got)
    assert n_before >= 2 + 10  # tail 2, then ~20 lines/s appended while following
    assert not done.is_set()
    pods.delete_pod("golden", "follow-0")
    assert done.wait(5), "follow did not end after the pod was deleted"


def test_log_follow_ends_when_container_stops(pods, pod_factory):
    pods.add_pod(pod_factory("stop-0", annotations={LOGS_ANNOTATION: json.dumps({"rate": 5, "startup": [],
                                                                               "crash": ["died: {exit_code}"]})}))
    out: list[str] = []

    def reader() -> None:
        with urllib.request.urlopen(pods.url + "/api/v1/namespaces/golden/pods/stop-0/log?follow=true",
                                    timeout=10) as r:
            out.append(r.read().decode())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.5)

    def crash() -> None:
        import copy
        pod = copy.deepcopy(pods.store.get("pods", "golden", "stop-0"))
        cs = pod["status"]["containerStatuses"][0]
        started = cs["state"]["running"]["startedAt"]
        cs["state"] = {"terminated": {"exitCode": 7, "reason": "Error", "startedAt": started,
                                      "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
        pods.store.update("pods", pod, subresource="status")
    pods.call(crash)
    t.join(5)
    assert not t.is_alive()
    assert out and out[0].splitlines()[-1] == "died: 7"


def test_fast_writer_rate(pods):
    # benchmark helper: a 200 lines/s container has 200 lines per second since it started
    pod = pods.store.get("pods", "golden", "fast-0")
    started = parse_time(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    t0 = time.time()
    _, _, body = _get(pods, "/api/v1/namespaces/golden/pods/fast-0/log")
    t1 = time.time()
    assert int((t0 - started) * 200) - 1 <= len(body.splitlines()) <= int((t1 - started) * 200) + 1


def test_log_since_time(pods):
    pod = pods.store.get("pods", "golden", "fast-0")
    started = parse_time(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started + 1))
    _, _, body = _get(pods, f"/api/v1/namespaces/golden/pods/fast-0/log?timestamps=true&sinceTime={since}")
    first = body.decode().splitlines()[0]
    assert parse_time(first.split(" ", 1)[0]) >= started + 1
    assert parse_time(first.split(" ", 1)[0]) < started + 1 + 2 / 200  # nothing newer was skipped
