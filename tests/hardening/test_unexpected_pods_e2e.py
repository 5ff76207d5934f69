"""Issue 25 class 7: pods the model did not expect.

Pods of a group whose worker-index label is ``abc``, ``-1``, beyond the group size or another pod's are
reported as such (status: a finding and ``unexpectedPods`` in JSON; logs: the prefix ``gN/w?`` and
``worker: null``), never counted (a group of 2 is never ``ready 6/2``). ``restart -g N`` refuses an index
that is neither below replicas nor a surge group, before sending anything, and names the pods there.
"""

from __future__ import annotations

import json

import pytest

from cliutil import sandbox_http, wait_for
from golden import basic_lws_manifest

NS = "hard"
STRAYS = {"odd-0-abc": "abc", "odd-0-neg": "-1", "odd-0-dup": "1", "odd-0-big": "5"}


def _pod(name: str, group: str, worker: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS,
                         "labels": {"leaderworkerset.sigs.k8s.io/name": "odd",
                                    "leaderworkerset.sigs.k8s.io/group-index": group,
                                    "leaderworkerset.sigs.k8s.io/worker-index": worker},
                         "annotations": {"leaderworkerset.sigs.k8s.io/size": "2"}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


@pytest.fixture(scope="module")
def odd(hard):  # noqa: ANN001, ANN201
    sandbox_http(hard, "POST", f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{NS}/leaderworkersets",
                 basic_lws_manifest("odd", NS, replicas=2, size=2))
    hard.wait_settled(60)
    for name, worker in STRAYS.items():
        sandbox_http(hard, "POST", f"/api/v1/namespaces/{NS}/pods", _pod(name, "0", worker))
        # LWS's pod webhook set the labels on create, as on a real cluster; a later edit is what it cannot stop
        sandbox_http(hard, "PATCH", f"/api/v1/namespaces/{NS}/pods/{name}",
                     {"metadata": {"labels": {"leaderworkerset.sigs.k8s.io/worker-index": worker}}},
                     content_type="application/merge-patch+json")
    sandbox_http(hard, "POST", f"/api/v1/namespaces/{NS}/pods", _pod("odd-7", "7", "0"))

    def running() -> bool:
        pods = sandbox_http(hard, "GET", f"/api/v1/namespaces/{NS}/pods")["items"]
        mine = [p for p in pods if p["metadata"]["name"] in {*STRAYS, "odd-7"}]
        return len(mine) == 5 and all(p.get("status", {}).get("phase") == "Running" for p in mine)

    wait_for(running, 30)
    return hard


def test_status_reports_them_and_never_counts_them(odd, kc, proc) -> None:  # noqa: ANN001
    done = proc(["status", "odd", "-o", "json"], kubeconfig=kc)
    assert done.returncode == 0, done.stderr
    group0 = next(g for g in json.loads(done.stdout)["groups"] if g["index"] == 0)
    assert group0["ready"] == 2 and group0["size"] == 2 and group0["leader"] == "odd-0"
    assert sorted(p["name"] for p in group0["pods"]) == ["odd-0", "odd-0-1"]
    unexpected = {p["name"]: p for p in group0["unexpectedPods"]}
    assert set(unexpected) == set(STRAYS)
    assert all(p["workerIndex"] is None for p in unexpected.values())
    assert unexpected["odd-0-abc"]["reason"] == 'worker-index "abc" is not a number'
    assert unexpected["odd-0-neg"]["reason"] == "worker-index -1 is negative"
    assert unexpected["odd-0-big"]["reason"] == "worker-index 5 is beyond the group size 2"
    assert unexpected["odd-0-dup"]["reason"] == "worker-index 1 is also odd-0-1's"
    text = proc(["status", "odd"], kubeconfig=kc).stdout
    row0 = next(line for line in text.splitlines() if line.startswith("0 "))
    assert " 2/2 " in row0, text
    assert "Unexpected pods (not counted):" in text
    assert "group 0: odd-0-abc: worker-index \"abc\" is not a number" in text


def test_logs_prefix_and_json_say_the_index_is_unknown(odd, kc, proc) -> None:  # noqa: ANN001
    done = proc(["logs", "odd", "-g", "0", "--all-pods", "--tail", "1"], kubeconfig=kc)
    assert done.returncode == 0, done.stderr
    assert "gNone" not in done.stdout + done.stderr and "w-1" not in done.stdout
    assert "note: pod odd-0-abc (group 0): worker-index \"abc\" is not a number; shown as g0/w?" in done.stderr
    as_json = proc(["logs", "odd", "-g", "0", "--all-pods", "--tail", "1", "-o", "json"], kubeconfig=kc)
    assert as_json.returncode == 0, as_json.stderr
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    strays = {d["pod"]: d for d in lines if d["pod"] in STRAYS}
    assert strays and all(d["worker"] is None and d["group"] == 0 for d in strays.values()), lines
    assert {d["worker"] for d in lines if d["pod"] == "odd-0"} == {0}


def test_restart_refuses_a_leftover_group_before_sending_anything(odd, kc, proc) -> None:  # noqa: ANN001
    odd.request_log.clear()
    done = proc(["restart", "odd", "-g", "7", "-y"], kubeconfig=kc)
    assert done.returncode == 2, done.stderr
    assert "group 7 is not a group of odd (odd has groups 0,1)" in done.stderr
    assert "odd-7" in done.stderr
    assert [e for e in odd.request_log.snapshot() if e[0] not in ("GET",)] == []
    missing = proc(["restart", "odd", "-g", "9", "-y"], kubeconfig=kc)
    assert missing.returncode == 2 and "group 9 does not exist: odd has groups 0,1" in missing.stderr
