"""``kubectl lws logs`` end to end: the real CLI against the sandbox over HTTP with the real client."""
from __future__ import annotations

import copy
import json
import re
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from cliutil import run_cli
from golden import GOLDEN

LOGS = {"rate": 20, "startup": ["start {pod} {container}", "ready {pod}"], "startup_gap": 0.01,
        "lines": ["tick {n} {pod}"], "crash": ["boom {pod} exit {exit_code}"]}
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


@pytest.fixture(scope="module")
def basic(make_lws):
    return make_lws(replicas=3, size=2, logs=LOGS)


def blocks(stdout: str) -> list[tuple[str, list[str]]]:
    """Consecutive runs of lines with the same prefix."""
    out: list[tuple[str, list[str]]] = []
    for line in stdout.splitlines():
        prefix, _, text = line.partition(" ")
        if out and out[-1][0] == prefix:
            out[-1][1].append(text.lstrip())
        else:
            out.append((prefix, [text.lstrip()]))
    return out


def test_default_is_one_block_per_leader_in_group_order(basic):
    result = run_cli(["logs", "basic"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    got = blocks(result.stdout)
    assert [prefix for prefix, _ in got] == ["g0/w0", "g1/w0", "g2/w0"]
    for index, (_, lines) in enumerate(got):
        assert lines[:2] == [f"start basic-{index} leader", f"ready basic-{index}"]
        assert all(f"basic-{index}" in line for line in lines)


def test_workers_adds_every_worker(basic):
    result = run_cli(["logs", "basic", "--workers", "-g", "1", "-g", "2"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    got = blocks(result.stdout)
    assert [p for p, _ in got] == ["g1/w0", "g1/w1", "g2/w0", "g2/w1"]
    assert got[1][1][0] == "start basic-1-1 worker"


def test_tail_and_max_streams_queue_the_rest(basic):
    result = run_cli(["logs", "basic", "--tail", "2", "--max-streams", "1"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    got = blocks(result.stdout)
    assert [p for p, _ in got] == ["g0/w0", "g1/w0", "g2/w0"]
    assert all(len(lines) == 2 for _, lines in got)


def test_since_and_since_time(basic):
    deadline = time.monotonic() + 20
    while True:
        full = run_cli(["logs", "basic", "-g", "0"], kubeconfig=basic.kubeconfig).stdout.splitlines()
        if len(full) > 60 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    recent = run_cli(["logs", "basic", "-g", "0", "--since", "1s"], kubeconfig=basic.kubeconfig)
    assert recent.exit_code == 0, recent.stderr
    assert 0 < len(recent.stdout.splitlines()) < len(full)
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    none = run_cli(["logs", "basic", "--since-time", future], kubeconfig=basic.kubeconfig)
    assert none.exit_code == 0 and none.stdout == ""
    bad = run_cli(["logs", "basic", "--since", "1s", "--since-time", future], kubeconfig=basic.kubeconfig)
    assert bad.exit_code == 2


def test_timestamps(basic):
    result = run_cli(["logs", "basic", "--timestamps", "--tail", "3"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 9
    assert all(re.match(rf"^g[0-2]/w0 {STAMP} tick \d+ basic-[0-2]$", line) for line in lines), lines


def test_json_output(basic):
    result = run_cli(["logs", "basic", "-o", "json", "--tail", "2", "--worker", "1"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 6
    assert all(list(r) == ["time", "group", "worker", "pod", "container", "line"] for r in rows)
    assert [(r["group"], r["worker"], r["pod"], r["container"]) for r in rows[::2]] == [
        (0, 1, "basic-0-1", "worker"), (1, 1, "basic-1-1", "worker"), (2, 1, "basic-2-1", "worker")]
    assert all(re.fullmatch(STAMP, r["time"]) and r["line"].startswith("tick ") for r in rows)


def test_bad_input_lists_what_exists(basic):
    result = run_cli(["logs", "basic", "-g", "7"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 2 and "(groups: 0-2)" in result.stderr
    result = run_cli(["logs", "basic", "-c", "nope"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 2 and "containers: leader, worker" in result.stderr
    result = run_cli(["logs", "basik"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 1 and 'did you mean "basic"' in result.stderr
    result = run_cli(["logs", "basic", "-f", "-g", "3"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 2 and "group 3 does not exist" in result.stderr
    result = run_cli(["logs", "basic", "-f", "--previous"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 2
    result = run_cli(["logs", "basic", "-f", "-c", "nope"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 2 and "containers: leader, worker" in result.stderr
    result = run_cli(["logs", "basic", "--worker", "2"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 2 and "(workers: 0-1; 0 is the leader)" in result.stderr
    assert "Traceback" not in result.stderr


def test_group_and_worker_filters_narrow_all_pods_and_workers(basic):
    result = run_cli(["logs", "basic", "--all-pods", "-g", "1", "--tail", "1"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert [p for p, _ in blocks(result.stdout)] == ["g1/w0", "g1/w1"]
    result = run_cli(["logs", "basic", "--workers", "--worker", "1", "--tail", "1"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert [p for p, _ in blocks(result.stdout)] == ["g0/w1", "g1/w1", "g2/w1"]


def test_all_containers_prefixes_json_and_follow(make_lws, spawn):
    lws = make_lws(replicas=2, size=2, logs=LOGS, name="side", sidecar=True)
    result = run_cli(["logs", "side", "--all-containers"], kubeconfig=lws.kubeconfig)
    assert result.exit_code == 0, result.stderr
    got = blocks(result.stdout)
    assert [p for p, _ in got] == ["g0/w0/leader", "g0/w0/sidecar", "g1/w0/leader", "g1/w0/sidecar"]
    assert [lines[0] for _, lines in got] == ["start side-0 leader", "start side-0 sidecar",
                                              "start side-1 leader", "start side-1 sidecar"]
    one = run_cli(["logs", "side", "--tail", "1"], kubeconfig=lws.kubeconfig)
    assert [p for p, _ in blocks(one.stdout)] == ["g0/w0", "g1/w0"]  # default container only, no suffix

    result = run_cli(["logs", "side", "--all-containers", "--workers", "-o", "json", "--tail", "1"],
                     kubeconfig=lws.kubeconfig)
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["group"], r["worker"], r["container"]) for r in rows] == [
        (0, 0, "leader"), (0, 0, "sidecar"), (0, 1, "worker"), (0, 1, "sidecar"),
        (1, 0, "leader"), (1, 0, "sidecar"), (1, 1, "worker"), (1, 1, "sidecar")]

    follow = spawn(["logs", "side", "-f", "--all-containers", "-g", "1", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("+ g1/w0/leader (pod side-1)")
    follow.wait_for("+ g1/w0/sidecar (pod side-1)")
    follow.wait_for("g1/w0/sidecar tick", stream="stdout")
    lws.delete_pod("side-1")
    follow.wait_for("- g1/w0 (pod deleted)")
    follow.wait_for("+ g1/w0/sidecar (pod side-1, new)")
    follow.wait_for("g1/w0/sidecar start side-1 sidecar", stream="stdout")
    follow.wait_for("g1/w0/leader  start side-1 leader", stream="stdout")
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130
    assert "g0/w0" not in follow.stdout


def test_previous_after_a_crash_and_follow_reattaches_on_restart(make_lws, spawn):
    lws = make_lws(replicas=2, size=1, logs=LOGS, restart_policy="None", name="crashy")
    follow = spawn(["logs", "crashy", "-f", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("+ g1/w0 (pod crashy-1)")
    lws.sb.fault("crash", pod=f"{lws.namespace}/crashy-1")
    lws.wait(lambda pods: any(p["metadata"]["name"] == "crashy-1" and
                              p["status"]["containerStatuses"][0].get("restartCount") == 1 and
                              "running" in p["status"]["containerStatuses"][0]["state"] for p in pods))
    follow.wait_for("+ g1/w0 (pod crashy-1, restart 1)")
    follow.wait_for("boom crashy-1 exit", stream="stdout")
    follow.wait_for("g1/w0 start crashy-1 leader", stream="stdout")
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130

    result = run_cli(["logs", "crashy", "--previous"], kubeconfig=lws.kubeconfig)
    assert result.exit_code == 0, result.stderr
    got = blocks(result.stdout)
    assert [p for p, _ in got] == ["g1/w0"]
    assert got[0][1][0] == "start crashy-1 leader" and got[0][1][-1].startswith("boom crashy-1 exit")
    assert "g0/w0 (pod crashy-0, container leader): no previous instance" in result.stderr


def test_follow_survives_recreation_and_scale_up_and_ends_on_deletion(make_lws, spawn):
    lws = make_lws(replicas=2, size=2, logs=LOGS, name="fol")
    follow = spawn(["logs", "fol", "-f", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("+ g1/w0 (pod fol-1)")
    follow.wait_for("g1/w0 tick", stream="stdout")
    lws.delete_pod("fol-1")
    follow.wait_for("- g1/w0 (pod deleted)")
    follow.wait_for("+ g1/w0 (pod fol-1, new)")
    follow.wait_for("g1/w0 start fol-1 leader", stream="stdout")  # the new instance, from its start
    lws.scale(3)
    follow.wait_for("+ g2/w0 (pod fol-2, new)")
    follow.wait_for("g2/w0 start fol-2 leader", stream="stdout")
    lws.delete()
    assert follow.finish() == 0
    assert 'leaderworkerset "fol" was deleted; stopping' in follow.stderr
    assert "g0/w0 start" not in follow.stdout  # --tail 1 for the pods there at start


def test_follow_in_process_leaves_no_thread(make_lws):
    lws = make_lws(replicas=2, size=1, logs=LOGS, name="inproc")
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(r=run_cli(["logs", "inproc", "-f"],
                                                                       kubeconfig=lws.kubeconfig)))
    runner.start()
    time.sleep(1.5)
    lws.delete()
    runner.join(20)
    assert not runner.is_alive()
    assert result["r"].exit_code == 0, result["r"].stderr
    assert "g1/w0 start inproc-1 leader" in result["r"].stdout
    assert [t.name for t in threading.enumerate() if t.name.startswith("lws-logs")] == []


def test_follow_max_streams_says_what_is_not_followed(basic, spawn):
    follow = spawn(["logs", "basic", "-f", "--max-streams", "2", "--tail", "0"], basic.kubeconfig)
    follow.wait_for("warning: not following g2/w0 (pod basic-2)")
    follow.wait_for("g1/w0 tick", stream="stdout")
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130
    assert "interrupted" in follow.stderr
    assert "g2/w0" not in follow.stdout


def test_no_interleaved_partial_lines_under_concurrent_writers(make_lws, spawn):
    filler = "x" * 1500
    lws = make_lws(replicas=6, size=1, name="noisy",
                   logs={"rate": 100, "startup": [], "lines": ["BEGIN {pod} {n} " + filler + " END"]})
    follow = spawn(["logs", "noisy", "-f", "--tail", "50"], lws.kubeconfig)
    follow.wait_for("+ g5/w0 (pod noisy-5)")
    time.sleep(2.5)
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130
    lines = follow.stdout.splitlines()
    assert len(lines) > 300
    pattern = re.compile(rf"^g(\d)/w0 BEGIN noisy-(\d) \d+ {filler} END$")
    for line in lines:
        match = pattern.match(line)
        assert match and match.group(1) == match.group(2), line[:120]


def test_pending_leader_gets_a_note_and_the_others_print(make_lws, spawn):
    # 6 nodes with 8 GPUs each: the 7th leader asking for 8 GPUs cannot be scheduled.
    lws = make_lws(replicas=7, size=1, logs=LOGS, name="big", gpus=8)
    result = run_cli(["logs", "big", "--tail", "1"], kubeconfig=lws.kubeconfig)
    assert result.exit_code == 0, result.stderr
    assert [p for p, _ in blocks(result.stdout)] == [f"g{i}/w0" for i in range(6)]
    assert "note: g6/w0: pod big-6 is Pending (Unschedulable); no logs yet" in result.stderr

    follow = spawn(["logs", "big", "-f", "--tail", "1"], lws.kubeconfig)
    follow.wait_for("note: g6/w0: pod big-6 is Pending (Unschedulable); attaching when it starts")
    follow.wait_for("+ g5/w0 (pod big-5)")
    follow.wait_for("g5/w0 tick", stream="stdout")
    node = next(n for n in yaml.safe_load_all((GOLDEN / "inputs" / "nodes.yaml").read_text())
                if n and n["status"]["allocatable"].get("nvidia.com/gpu") == "8")
    node = copy.deepcopy(node)
    node["metadata"]["name"] = node["metadata"]["labels"]["kubernetes.io/hostname"] = "gpu-extra"
    lws.sb.create("nodes", node)  # room for the 7th leader: the follow attaches to it by itself
    follow.wait_for("+ g6/w0 (pod big-6")
    follow.wait_for("g6/w0 start big-6 leader", stream="stdout")
    follow.proc.send_signal(signal.SIGINT)
    assert follow.finish() == 130


def test_follow_resumes_streams_and_watches_after_a_network_cut(make_lws, spawn, cuttable_proxy, tmp_path):
    lws = make_lws(replicas=2, size=1, logs=LOGS, name="cut")
    kubeconfig = cuttable_proxy(lws, tmp_path)
    follow = spawn(["logs", "cut", "-f", "--tail", "1"], kubeconfig)
    follow.wait_for("+ g1/w0 (pod cut-1)")
    # both streams flowing: their connections are through the proxy when it cuts (under load, a
    # stream still connecting would escape the cut and never need a reconnect)
    follow.wait_for("g0/w0 tick", stream="stdout")
    follow.wait_for("g1/w0 tick", stream="stdout")
    cuttable_proxy.proxy.cut()
    follow.wait_for("+ g1/w0 (pod cut-1, reconnected)")
    follow.wait_for("+ g0/w0 (pod cut-0, reconnected)")
    before = len(follow.stdout.splitlines())
    deadline = time.monotonic() + 10
    while len(follow.stdout.splitlines()) < before + 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    lws.delete()  # seen only if the LWS watch reconnected too
    assert follow.finish() == 0, follow.stderr
    assert "error" not in follow.stderr
    for group in (0, 1):
        ticks = sorted({int(m) for m in re.findall(rf"^g{group}/w0 tick (\d+) ", follow.stdout, re.M)})
        assert len(ticks) > 20 and ticks == list(range(ticks[0], ticks[-1] + 1)), ticks  # no line lost


def test_colour_per_group_only_when_asked(basic):
    from kubectl_lws.model.logsel import group_color

    result = run_cli(["logs", "basic", "--tail", "1", "--color", "always"], kubeconfig=basic.kubeconfig)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [f"\x1b[{group_color(i)}mg{i}/w0\x1b[0m tick {line.rsplit(' ', 2)[-2]} basic-{i}"
                     for i, line in enumerate(lines)]
    plain = run_cli(["logs", "basic", "--tail", "1", "--no-prefix"], kubeconfig=basic.kubeconfig)
    assert all(line.startswith("tick ") for line in plain.stdout.splitlines())
