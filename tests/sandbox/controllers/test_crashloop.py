"""The `crashloop` scenario and the kubelet's termination records (issue 28 item 4): containers that exit on their
own after a while (traceback, OOM kill), lastState with exit code, reason, message and times, previous logs while
the pod exists (a deleted pod takes its stop time to go), and the knob that expires events."""
from __future__ import annotations

import time
import urllib.request

import pytest

from cliutil import wait_for
from conftest import scenario_sandbox

SPEED = 20.0


@pytest.fixture(scope="module")
def crash():
    with scenario_sandbox("crashloop", speed=SPEED) as sb:
        yield sb


def _worker_status(sb, name: str) -> dict | None:
    pod = sb.get("pods", "crash", name)
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    return statuses[0] if statuses else None


def _log(sb, pod: str, **query: str) -> tuple[int, str]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    req = urllib.request.Request(f"{sb.url}/api/v1/namespaces/crash/pods/{pod}/log?{qs}",
                                 headers={"Authorization": f"Bearer {sb.admin_token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_bad_worker_1_of_group_0_exits_1_with_its_traceback_as_the_termination_message(crash):
    def terminated():
        cs = _worker_status(crash, "bad-0-1")
        return cs if cs and (cs.get("lastState") or {}).get("terminated") else None

    cs = wait_for(terminated, timeout=30, step=0.01)
    term = cs["lastState"]["terminated"]
    assert term["exitCode"] == 1 and term["reason"] == "Error"
    assert term["startedAt"] <= term["finishedAt"]
    assert term["message"].splitlines()[-1] == "KeyError: 'model.layers.61.mlp.experts.w2_weight'"
    assert len(term["message"].encode()) <= 2048
    # the previous instance's log is served while the pod exists, traceback last
    code, text = _log(crash, "bad-0-1", previous="true")
    assert code == 200, text
    assert "Traceback (most recent call last):" in text and text.rstrip().endswith("w2_weight'")
    # group 1 never crashes
    assert (_worker_status(crash, "bad-1-1") or {}).get("restartCount") == 0


def test_oom_worker_is_oomkilled_with_exit_137(crash):
    def killed():
        cs = _worker_status(crash, "oom-0-1")
        return cs if cs and (cs.get("lastState") or {}).get("terminated") else None

    term = wait_for(killed, timeout=40, step=0.01)["lastState"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (137, "OOMKilled")
    assert "message" not in term  # no FallbackToLogsOnError on this one, nothing written to termination-log


def test_a_recreated_group_keeps_its_pods_for_their_stop_time(crash):
    """The group is re-created (RecreateGroupOnPodRestart), and the deleted pods stay Terminating for the
    stop-seconds annotation (5 s / speed) before the kubelet removes them, as on a real node."""
    seen: dict[str, float] = {}
    running: set[str] = set()  # a pod first met already terminating may be near its end: not timed

    def terminating():
        pod = crash.get("pods", "crash", "bad-0-2")
        if pod is None:
            return None
        uid = pod["metadata"]["uid"]
        if not pod["metadata"].get("deletionTimestamp"):
            running.add(uid)
        elif uid in running:
            seen.setdefault(uid, time.monotonic())
            return uid
        return None

    uid = wait_for(terminating, timeout=40, step=0.005)
    wait_for(lambda: (crash.get("pods", "crash", "bad-0-2") or {}).get("metadata", {}).get("uid") != uid,
             timeout=10, step=0.005)
    stayed = time.monotonic() - seen[uid]
    assert stayed >= 0.8 * 5 / SPEED, stayed


def test_expire_events_removes_events_as_the_event_ttl_does(crash):
    assert crash.call(lambda: crash.store.list("events", "crash"))
    assert crash.fault("expire-events", namespace="crash", older_than=3600)["expired"] == 0
    gone = crash.fault("expire-events", namespace="crash")["expired"]
    assert gone > 0
    left = crash.call(lambda: crash.store.list("events", "crash"))
    assert len(left) < gone  # only events written since the call (group 0 keeps being re-created)
