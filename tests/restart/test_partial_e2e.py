"""Issue 16 items 13 and 14 end to end: partial outcomes said plainly, a failed --save-logs leaves
nothing behind, and zero-replica LWSs have nothing to restart or scale away."""

from __future__ import annotations

from pathlib import Path

from cliutil import run_cli


def _restart(lws, *args: str):
    return run_cli(["restart", lws.name, *args], kubeconfig=lws.kubeconfig)


def test_second_delete_failing_says_which_group_was_restarted(make_lws) -> None:
    lws = make_lws(replicas=2, size=2)
    before = lws.uids_by_group()
    # Groups are restarted highest first: group 1 goes, then group 0's delete fails.
    lws.sb.fault("fail-requests", path=f"/api/v1/namespaces/{lws.namespace}/pods/svc-0", method="DELETE",
                 status=500, count=1)
    res = _restart(lws, "-g", "0", "-g", "1", "-y")
    assert res.exit_code == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "group 1 was restarted; group 0 was not" in lines[0], res.stderr
    lws.sb.wait_settled(20)
    after = lws.uids_by_group()
    assert after[0] == before[0]  # group 0 untouched
    assert after[1].isdisjoint(before[1])


def test_first_delete_failing_says_nothing_was_restarted(make_lws) -> None:
    lws = make_lws(replicas=2, size=1)
    before = lws.uids_by_group()
    lws.sb.fault("fail-requests", path=f"/api/v1/namespaces/{lws.namespace}/pods/svc-1", method="DELETE",
                 status=500, count=1)
    res = _restart(lws, "-g", "0,1", "-y")
    assert res.exit_code == 1
    assert "no group was restarted; groups 0,1 were not" in res.stderr
    assert lws.uids_by_group() == before


def test_failed_save_logs_leaves_no_files_and_the_same_command_runs_again(make_lws, tmp_path: Path) -> None:
    lws = make_lws(replicas=2, size=2)
    before = lws.uids_by_group()
    out = tmp_path / "logs"
    lws.sb.fault("fail-requests", path=f"/api/v1/namespaces/{lws.namespace}/pods/svc-1-1/log", status=500,
                 count=1)
    res = _restart(lws, "-g", "1", "--save-logs", str(out), "-y")
    assert res.exit_code == 1, res.stderr
    assert "could not save the logs of svc-1-1/worker" in res.stderr and "no group was restarted" in res.stderr
    assert not out.exists() or not list(out.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".logs.partial")]
    assert lws.uids_by_group() == before  # nothing was deleted
    again = _restart(lws, "-g", "1", "--save-logs", str(out), "-y")
    assert again.exit_code == 0, again.stderr
    assert {"svc-1_leader.log", "svc-1-1_worker.log"} <= {p.name for p in out.iterdir()}


def test_zero_replicas_nothing_to_restart_or_scale(make_lws) -> None:
    lws = make_lws(replicas=1, size=2)
    lws.http("PATCH", f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{lws.namespace}/leaderworkersets/svc",
             {"spec": {"replicas": 0}})
    lws.sb.wait_settled(20)
    rv = lws.get()["metadata"]["resourceVersion"]
    for args in (["--all", "--rolling", "-y"], ["--all", "-y"]):
        res = _restart(lws, *args)
        assert res.exit_code == 0, res.stderr
        assert "nothing to restart" in res.stderr and "0 replicas" in res.stderr
        assert "groups  of" not in res.stderr and res.stdout == ""
    res = run_cli(["scale", "svc", "--replicas", "0", "-y"], kubeconfig=lws.kubeconfig)
    assert res.exit_code == 0, res.stderr
    assert lws.get()["metadata"]["resourceVersion"] == rv
