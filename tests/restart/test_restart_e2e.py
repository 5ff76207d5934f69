"""``kubectl lws restart`` end to end: real CLI, real kubernetes client, sandbox over HTTP."""

from __future__ import annotations

from pathlib import Path

from cliutil import run_cli

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _restart(lws, *args: str):
    return run_cli(["restart", lws.name, *args], kubeconfig=lws.kubeconfig)


def test_restart_one_group_recreates_exactly_that_group(make_lws) -> None:
    lws = make_lws(replicas=3, size=2)
    before = lws.uids_by_group()
    mark = lws.mark()
    res = _restart(lws, "-g", "1", "--wait", "--timeout", "30s", "-y")
    assert res.exit_code == 0, res.stderr
    # Golden trace b3 (Foreground): the worker goes first, then the leader; exactly one new leader.
    events = lws.pod_events(mark)
    deleted = [name for etype, name, _ in events if etype == "DELETED"]
    assert deleted == ["svc-1-1", "svc-1"]
    assert [name for etype, name, _ in events if etype == "ADDED"] == ["svc-1", "svc-1-1"]
    assert "group 1 restarted (leader svc-1 deleted)" in res.stdout
    assert "2 of 3 groups keep serving" in res.stderr
    assert "Ready again" in res.stderr
    after = lws.uids_by_group()
    assert after[1].isdisjoint(before[1]) and len(after[1]) == 2
    assert after[0] == before[0] and after[2] == before[2]


def test_restart_refuses_without_tty_and_changes_nothing(make_lws) -> None:
    lws = make_lws(replicas=2, size=2)
    before = lws.uids_by_group()
    res = _restart(lws, "-g", "0")
    assert res.exit_code == 2
    assert "refusing" in res.stderr and "Restart group 0" in res.stderr
    assert lws.uids_by_group() == before


def test_dry_runs_change_nothing(make_lws) -> None:
    lws = make_lws(replicas=2, size=2)
    before, spec = lws.uids_by_group(), lws.get()["spec"]
    client = _restart(lws, "-g", "0", "--dry-run")
    assert client.exit_code == 0 and "dry run (client)" in client.stderr and client.stdout == ""
    server = _restart(lws, "-g", "0,1", "--dry-run=server")
    assert server.exit_code == 0, server.stderr
    assert "group 0 restarted (leader svc-0 deleted) (server dry run)" in server.stdout
    tmpl = _restart(lws, "--all", "--dry-run=server")
    assert tmpl.exit_code == 0 and "restarted (server dry run)" in tmpl.stdout
    lws.sb.wait_settled(10)
    assert lws.uids_by_group() == before
    assert lws.get()["spec"] == spec


def test_usage_errors(make_lws) -> None:
    lws = make_lws(replicas=2, size=1)
    assert _restart(lws, "-y").exit_code == 2  # neither -g nor --all
    assert _restart(lws, "-g", "0", "--all", "-y").exit_code == 2
    assert _restart(lws, "-g", "x", "-y").exit_code == 2
    assert _restart(lws, "-g", "0", "--max-unavailable", "2", "-y").exit_code == 2
    res = _restart(lws, "-g", "5", "-y")
    assert res.exit_code == 2 and "group 5 does not exist" in res.stderr
    assert run_cli(["restart", "nope", "-g", "0", "-y"], kubeconfig=lws.kubeconfig).exit_code == 1


def test_rolling_restart_never_has_more_than_k_groups_down(make_lws) -> None:
    lws = make_lws(replicas=4, size=2)
    before = lws.uids_by_group()
    mark = lws.mark()
    res = _restart(lws, "--all", "--rolling", "--timeout", "30s", "-y")
    assert res.exit_code == 0, res.stderr
    order = [line.split(" group ")[1].split()[0] for line in res.stdout.splitlines()]
    assert order == ["3", "2", "1", "0"]
    after = lws.uids_by_group()
    assert all(after[i].isdisjoint(before[i]) for i in range(4))
    worst, timeline = lws.max_groups_down(mark)
    assert worst == 1, "\n".join(timeline)
    assert any("down=1" in line for line in timeline)  # the check can see a group down


def test_rolling_restart_k2_uses_batches_of_two(make_lws) -> None:
    lws = make_lws(replicas=4, size=2)
    mark = lws.mark()
    res = _restart(lws, "--all", "--rolling", "--max-unavailable", "2", "--timeout", "30s", "-y")
    assert res.exit_code == 0, res.stderr
    assert "[3,2] -> [1,0]" in res.stderr and "2 of 4 groups keep serving" in res.stderr
    worst, timeline = lws.max_groups_down(mark)
    assert worst == 2, "\n".join(timeline)


def test_rolling_restart_stops_on_timeout_and_leaves_the_rest(make_lws) -> None:
    lws = make_lws(replicas=3, size=2)
    before = lws.uids_by_group()
    nodes = [n["metadata"]["name"] for n in lws.sb.call(lambda: lws.sb.store.list("nodes"))]
    try:
        for node in nodes:  # cordon: the re-created leader cannot be scheduled
            lws.http("PATCH", f"/api/v1/nodes/{node}", {"spec": {"unschedulable": True}})
        res = _restart(lws, "--all", "--rolling", "--timeout", "2s", "-y")
    finally:
        for node in nodes:
            lws.http("PATCH", f"/api/v1/nodes/{node}", {"spec": {"unschedulable": None}})
    assert res.exit_code == 4, res.stderr
    assert "untouched: 1,0" in res.stderr and "not Ready: 2" in res.stderr
    assert "restarted and Ready: none" in res.stderr
    assert "unschedulable" in res.stderr  # the reason comes from model/health
    after = lws.uids_by_group()
    assert after[0] == before[0] and after[1] == before[1]


def test_template_restart_sets_restarted_at_and_warns_on_partition(make_lws) -> None:
    lws = make_lws(replicas=3, size=2)
    lws.http("PATCH", f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{lws.namespace}/leaderworkersets/svc",
             {"spec": {"rolloutStrategy": {"rollingUpdateConfiguration": {"partition": 2}}}})
    before = lws.uids_by_group()
    res = _restart(lws, "--all", "--wait", "--timeout", "30s", "-y")
    assert res.exit_code == 0, res.stderr
    assert "partition is 2: only groups >= 2 restart" in res.stderr
    lwt = lws.get()["spec"]["leaderWorkerTemplate"]
    stamp = lwt["workerTemplate"]["metadata"]["annotations"][RESTARTED_AT]
    assert lwt["leaderTemplate"]["metadata"]["annotations"][RESTARTED_AT] == stamp
    lws.sb.wait_settled(10)
    after = lws.uids_by_group()
    assert after[2].isdisjoint(before[2])
    assert after[0] == before[0] and after[1] == before[1]


def test_save_logs_writes_current_and_previous_per_container(make_lws, tmp_path: Path) -> None:
    lws = make_lws(replicas=2, size=2, restart_policy="None")
    lws.sb.fault("crash", pod=f"{lws.namespace}/svc-1-1")  # a restarted container has a previous log
    lws.sb.wait_settled(10)
    out = tmp_path / "logs"
    res = _restart(lws, "-g", "1", "--save-logs", str(out), "-y")
    assert res.exit_code == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "svc-1_leader.log" in names and "svc-1-1_worker.log" in names
    assert "svc-1-1_worker.previous.log" in names
    assert not any(n.startswith("svc-0") for n in names)
    assert (out / "svc-1_leader.log").stat().st_size > 0
    again = _restart(lws, "-g", "1", "--save-logs", str(out), "-y")
    assert again.exit_code == 2 and "already holds logs" in again.stderr


def _run_on_tty(lws, args: list[str], answer: str) -> tuple[int, str]:
    """Run the CLI as a subprocess whose stdin is a pseudo-terminal, answering the prompt."""
    import os
    import subprocess
    import sys

    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", *args], stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "KUBECONFIG": lws.kubeconfig, "NO_COLOR": "1"})
        os.write(master, answer.encode())
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    return proc.returncode, err.decode()


def test_tty_confirmation_no_keeps_and_yes_restarts(make_lws) -> None:
    lws = make_lws(replicas=2, size=1)
    before = lws.uids_by_group()
    code, err = _run_on_tty(lws, ["restart", "svc", "-g", "0"], "n\n")
    assert code == 0 and "Proceed?" in err and "aborted" in err
    assert lws.uids_by_group() == before
    code, err = _run_on_tty(lws, ["restart", "svc", "-g", "0", "--wait", "--timeout", "30s"], "y\n")
    assert code == 0, err
    after = lws.uids_by_group()
    assert after[0].isdisjoint(before[0]) and after[1] == before[1]


def test_rolling_restart_waits_for_a_serving_group_that_went_down(make_lws) -> None:
    """Group 0 stops being Ready while group 2 is re-created: group 1 must not be touched."""
    lws = make_lws(replicas=3, size=1)
    before = lws.uids_by_group()
    kubelet = lws.sb.controllers.kubelet
    fired: list[bool] = []

    def on_change(type_: str, resource: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        if (not fired and resource == "pods" and meta.get("namespace") == lws.namespace
                and meta["name"] == "svc-2" and meta.get("deletionTimestamp")):
            fired.append(True)
            kubelet.set_readiness_failure(lws.namespace, "svc-0", True)

    unsubscribe = lws.sb.call(lws.sb.store.subscribe, on_change)
    try:
        res = _restart(lws, "--all", "--rolling", "--timeout", "2s", "-y")
    finally:
        lws.sb.call(unsubscribe)
        lws.sb.call(kubelet.set_readiness_failure, lws.namespace, "svc-0", False)
    assert fired
    assert res.exit_code == 4, res.stderr
    assert "waiting before restarting group(s) 1" in res.stderr
    assert "stopped to keep capacity: restarted and Ready: 2; untouched: 1,0" in res.stderr
    after = lws.uids_by_group()
    assert after[2].isdisjoint(before[2]) and after[1] == before[1] and after[0] == before[0]


def test_wait_leaves_no_watch_thread_behind(make_lws) -> None:
    """The pod watch of --wait is shut with the command, not left blocked on a quiet stream."""
    import threading

    lws = make_lws(replicas=2, size=1)
    before = {t for t in threading.enumerate() if "watch" in t.name}
    res = _restart(lws, "-g", "0", "--wait", "--timeout", "30s", "-y")
    assert res.exit_code == 0, res.stderr
    assert {t for t in threading.enumerate() if "watch" in t.name and t.is_alive()} - before == set()


def test_plan_title_honours_color_flag(make_lws) -> None:
    """--color=always styles the plan even on a pipe; the default (NO_COLOR, no TTY) stays plain."""
    lws = make_lws(replicas=2, size=1)
    coloured = _restart(lws, "-g", "0", "--dry-run", "--color=always")
    assert coloured.exit_code == 0 and "\x1b[1mRestart group 0" in coloured.stderr
    plain = _restart(lws, "-g", "0", "--dry-run")
    assert plain.exit_code == 0 and "\x1b[" not in plain.stderr
