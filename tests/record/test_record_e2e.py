"""`kubectl lws record` and `kubectl lws history` end to end in the `crashloop` scenario (issue 28): the real CLI as a
process against the sandbox over HTTP, recording re-creations as they happen."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cliutil import run_cli, wait_for
from conftest import scenario_sandbox

SPEED = 10.0


@pytest.fixture(scope="module")
def crash():
    with scenario_sandbox("crashloop", speed=SPEED) as sb:
        yield sb


@pytest.fixture
def kc(crash, tmp_path: Path) -> str:
    return crash.write_kubeconfig(tmp_path / "kubeconfig.yaml", namespace="crash")


def start_record(kc: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}
    return subprocess.Popen([sys.executable, "-m", "kubectl_lws", "record", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), "an incomplete JSON line"
    return [json.loads(x) for x in raw.splitlines() if x.strip()]


def ended(directory: Path, lws: str, *, whole: bool = False) -> list[dict]:
    """Ended incarnations recorded; ``whole``: only those seen from their start (not mid-life at the first list)."""
    return [d for d in lines(directory / "crash" / lws / "incarnations.ndjson")
            if d.get("type") == "incarnation" and (d.get("complete") or not whole)]


def record_until(kc: str, directory: Path, lws: str, count: int, *args: str, timeout: float = 60) -> str:
    """Record ``lws`` into ``directory`` until ``count`` whole incarnations of it ended, then Ctrl-C: exit 0,
    the recorder's stderr."""
    proc = start_record(kc, lws, "--dir", str(directory), *args)
    try:
        wait_for(lambda: len(ended(directory, lws, whole=True)) >= count or proc.poll() is not None,
                 timeout=timeout, step=0.2)
    finally:
        code, err = stop(proc)
    assert code == 0, err
    return err


def history_json(kc: str, *args: str) -> dict:
    r = run_cli(["history", *args, "-o", "json"], kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def bad_recording(crash, tmp_path_factory) -> tuple[Path, str, str]:
    """Three re-creations of crash/bad recorded, then Ctrl-C (exit 0): the directory, stderr, a kubeconfig."""
    directory = tmp_path_factory.mktemp("rec") / "bad"
    kc = crash.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kc.yaml", namespace="crash")
    crash.add_token("s3cr3t-t0ken", "recorder", None)  # all rights; given on the command line, masked in the header
    err = record_until(kc, directory, "bad", 3, "--token", "s3cr3t-t0ken", timeout=90)
    return directory, err, kc


def test_three_recreations_of_bad_are_three_ended_incarnations_with_exit_1_and_the_traceback(bad_recording):
    directory, err, kc = bad_recording
    doc = history_json(kc, "bad", "--dir", str(directory))
    assert doc["source"] == "recording"
    group0 = next(g for g in doc["groups"] if g["group"] == 0)
    done = [i for i in group0["incarnations"] if not i["current"] and i["complete"]]
    assert len(done) >= 3
    starts = [i["started"] for i in group0["incarnations"]]
    assert starts == sorted(starts, reverse=True)  # newest first
    for inc in done[:3]:
        end = inc["end"]
        assert (end["kind"], end["container"], end["exitCode"], end["reason"]) == ("container", "vllm", 1, "Error")
        assert end["pod"] == "bad-0-1" and end["worker"] == 1 and end["node"]
        assert end["message"].splitlines()[-1] == "KeyError: 'model.layers.61.mlp.experts.w2_weight'"
        assert inc["leaderUID"] and inc["started"] and inc["ended"] and inc["ranForSeconds"] is not None
        crashed = [p for p in inc["logs"] if p.endswith("/bad-0-1.vllm.log")]
        assert crashed and not crashed[0].startswith("/")
        text = (directory / crashed[0]).read_text()
        assert "Traceback (most recent call last):" in text and "KeyError: 'model.layers.61" in text
        assert any(p.endswith("/bad-0.vllm.log") for p in inc["logs"])  # the leader, followed
        assert crashed[0].startswith(f"crash/bad/g0/") and inc["leaderUID"] in crashed[0]
    # group 1 never ended: only its current incarnation, from its folder
    group1 = next(g for g in doc["groups"] if g["group"] == 1)
    assert [i["current"] for i in group1["incarnations"]] == [True]
    # the text view says it too, and the stderr of record said each ending once
    r = run_cli(["history", "bad", "--dir", str(directory)], kubeconfig=kc)
    assert r.exit_code == 0 and "w1 exit 1 Error" in r.stdout and "KeyError: 'model.layers.61" in r.stdout
    assert err.count("w1 exit 1 Error") >= 3 and "stopped (Ctrl-C)" in err


def test_the_files_are_where_the_issue_names_them(bad_recording):
    directory, _, _ = bad_recording
    header = json.loads((directory / "recording.json").read_text())
    assert header["kind"] == "LwsRecording" and header["formatVersion"] == 1
    assert header["cluster"]["server"].startswith("http://127.0.0.1:") and header["cluster"]["uid"]
    assert header["versions"]["plugin"] and header["versions"]["server"]
    assert header["sessions"][0]["started"] and header["sessions"][0]["stopped"]
    # the token given on the command line is masked, as report masks it
    assert "s3cr3t-t0ken" not in (directory / "recording.json").read_text()
    assert header["command"][header["command"].index("--token") + 1] == "***"
    for inc in ended(directory, "bad", whole=True):
        folder = directory / inc["folder"]
        created = inc["started"].replace("-", "").replace(":", "")
        assert folder.parent.name == f"g{inc['group']}" and folder.name == f"{created}-{inc['leaderUID']}"
        assert {p.name for p in folder.iterdir()} >= {"bad-0.vllm.log", "bad-0-1.vllm.log"}
    events = lines(directory / "crash" / "bad" / "events.ndjson")
    assert any(e["reason"] == "RecreateGroup" and e["group"] == 0 for e in events)
    assert len({(e["uid"], e["count"], e["lastTime"]) for e in events}) == len(events)  # deduplicated


def test_oom_ends_with_exit_137_oomkilled(crash, kc, tmp_path):
    directory = tmp_path / "oom"
    record_until(kc, directory, "oom", 1)
    doc = history_json(kc, "oom", "--dir", str(directory))
    inc = next(i for g in doc["groups"] for i in g["incarnations"] if not i["current"] and i["complete"])
    assert (inc["end"]["exitCode"], inc["end"]["reason"], inc["end"]["signal"]) == (137, "OOMKilled", "SIGKILL")
    r = run_cli(["history", "oom", "--dir", str(directory)], kubeconfig=kc)
    assert "w1 exit 137 OOMKilled" in r.stdout


def test_with_events_expired_history_dir_still_knows_and_history_says_what_it_no_longer_knows(crash, bad_recording):
    directory, _, kc = bad_recording
    before = history_json(kc, "bad")
    assert before["source"] == "cluster"
    assert any(not i["current"] for g in before["groups"] for i in g["incarnations"])  # events name old leaders
    crash.fault("expire-events", namespace="crash")
    after = history_json(kc, "bad", "-g", "0")
    old = [i for g in after["groups"] for i in g["incarnations"] if i["from"] == "events"]
    # what events still exist were written after the expiry; what the recording kept is not there
    recorded = {i["leaderUID"] for i in ended(directory, "bad")}
    assert not recorded & {i["leaderUID"] for i in old}
    assert any("events expire" in u or "no events left" in u or "nothing before" in u for u in after["unknown"])
    text = run_cli(["history", "bad"], kubeconfig=kc).stdout
    assert "events expire" in text and "kubectl lws record keeps them" in text
    kept = history_json(kc, "bad", "--dir", str(directory))
    assert recorded <= {i["leaderUID"] for g in kept["groups"] for i in g["incarnations"]}


def test_a_second_recorder_on_the_same_dir_is_refused(crash, kc, tmp_path):
    directory = tmp_path / "locked"
    first = start_record(kc, "bad", "--dir", str(directory))
    try:
        wait_for(lambda: (directory / "recording.json").exists() or first.poll() is not None, timeout=30)
        r = run_cli(["record", "bad", "--dir", str(directory), "--for", "5s"], kubeconfig=kc)
        assert r.exit_code == 1
        assert "is being written by another kubectl lws record" in r.stderr and "Traceback" not in r.stderr
    finally:
        code, err = stop(first, signal.SIGTERM)
    assert code == 0, err  # SIGTERM stops a recorder as cleanly as Ctrl-C
    assert "stopped (SIGTERM)" in err


def test_record_for_stops_by_itself_and_a_new_session_appends(crash, kc, tmp_path):
    directory = tmp_path / "twice"
    for _ in range(2):
        r = run_cli(["record", "bad", "--dir", str(directory), "--for", "2s"], kubeconfig=kc)
        assert r.exit_code == 0, r.stderr
        assert "stopped (--for)" in r.stderr
    header = json.loads((directory / "recording.json").read_text())
    assert len(header["sessions"]) == 2 and all(s.get("stopped") for s in header["sessions"])
    events = lines(directory / "crash" / "bad" / "events.ndjson")
    assert len({(e["uid"], e["count"], e["lastTime"]) for e in events}) == len(events)  # not written twice


def test_all_namespaces_records_every_lws(crash, kc, tmp_path):
    directory = tmp_path / "all"
    proc = start_record(kc, "-A", "--dir", str(directory))
    try:
        wait_for(lambda: (ended(directory, "bad") and ended(directory, "oom")) or proc.poll() is not None,
                 timeout=90, step=0.2)
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert ended(directory, "bad") and ended(directory, "oom")


def test_history_of_a_dir_from_another_cluster_or_a_newer_format_is_a_clear_error(bad_recording, tmp_path):
    directory, _, kc = bad_recording
    import shutil

    other = tmp_path / "other"
    shutil.copytree(directory, other, ignore=shutil.ignore_patterns(".lock"))
    header = json.loads((other / "recording.json").read_text())
    header["cluster"].update(server="https://10.9.8.7:6443", uid="5d7e3b0a-0000-4000-8000-000000000000")
    (other / "recording.json").write_text(json.dumps(header))
    r = run_cli(["history", "bad", "--dir", str(other)], kubeconfig=kc)
    assert r.exit_code == 1 and "recorded from another cluster" in r.stderr and "10.9.8.7" in r.stderr
    assert run_cli(["history", "bad", "--dir", str(other), "--ignore-cluster"], kubeconfig=kc).exit_code == 0
    # recording into it from this cluster is refused too
    r = run_cli(["record", "bad", "--dir", str(other), "--for", "1s"], kubeconfig=kc)
    assert r.exit_code == 1 and "holds a recording of another cluster" in r.stderr
    header["cluster"] = json.loads((directory / "recording.json").read_text())["cluster"]
    header["formatVersion"] = 2
    (other / "recording.json").write_text(json.dumps(header))
    r = run_cli(["history", "bad", "--dir", str(other)], kubeconfig=kc)
    assert r.exit_code == 1 and "newer kubectl-lws" in r.stderr and "format 2" in r.stderr


def test_history_reads_a_report_bundle_that_holds_the_recording(bad_recording, tmp_path):
    directory, _, kc = bad_recording
    bundle = tmp_path / "bad.zip"
    r = run_cli(["report", "bad", "--recording", str(directory), "--output", str(bundle), "--logs", "none"],
                kubeconfig=kc)
    assert r.exit_code == 0, r.stderr
    from_dir = history_json(kc, "bad", "--dir", str(directory))
    from_zip = history_json(kc, "bad", "--dir", str(bundle))
    ended_dir = [i for g in from_dir["groups"] for i in g["incarnations"] if not i["current"]]
    ended_zip = [i for g in from_zip["groups"] for i in g["incarnations"] if not i["current"]]
    assert ended_dir == ended_zip and ended_zip
    plain = tmp_path / "plain.tar.gz"
    assert run_cli(["report", "bad", "--output", str(plain), "--logs", "none"], kubeconfig=kc).exit_code == 0
    r = run_cli(["history", "bad", "--dir", str(plain)], kubeconfig=kc)
    assert r.exit_code == 1 and "without a recording" in r.stderr


def test_bad_input_is_refused_before_anything_is_sent(crash, kc, tmp_path):
    cases = [
        (["record", "bad"], 2, "--dir DIR is required"),
        (["record", "--dir", str(tmp_path / "x")], 2, "NAME or -A is required"),
        (["record", "bad", "-A", "--dir", str(tmp_path / "x")], 2, "cannot be combined"),
        (["record", "bad", "--dir", str(tmp_path / "x"), "--for", "0"], 2, "positive duration"),
        (["record", "bad", "--dir", str(tmp_path / "x"), "--tail-bytes", "12"], 2, "--tail-bytes"),
        (["record", "bad", "--dir", str(tmp_path / "x"), "--max-size", "lots"], 2, "--max-size"),
        (["record", "Bad_Name", "--dir", str(tmp_path / "x")], 2, ""),
        (["history"], 2, "NAME is required"),
    ]
    for args, code, text in cases:
        crash.request_log.clear()
        r = run_cli(args, kubeconfig=kc)
        assert r.exit_code == code, (args, r.stderr)
        assert text in r.stderr and "Traceback" not in r.stderr
        assert not crash.request_log.entries, args
    r = run_cli(["record", "nosuch", "--dir", str(tmp_path / "y")], kubeconfig=kc)
    assert r.exit_code == 1 and 'leaderworkerset "nosuch" not found' in r.stderr
    assert not (tmp_path / "y").exists()
    (tmp_path / "file").write_text("x")
    r = run_cli(["record", "bad", "--dir", str(tmp_path / "file")], kubeconfig=kc)
    assert r.exit_code == 1 and "not a directory" in r.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    r = run_cli(["record", "bad", "--dir", str(tmp_path / "busy")], kubeconfig=kc)
    assert r.exit_code == 1 and "not empty and holds no recording" in r.stderr
    r = run_cli(["history", "bad", "--dir", str(tmp_path / "nothing")], kubeconfig=kc)
    assert r.exit_code == 1 and "no such directory" in r.stderr
    r = run_cli(["history", "oom", "--dir", str(tmp_path / "twice-missing")], kubeconfig=kc)
    assert r.exit_code == 1


def test_a_lost_api_server_is_a_gap_and_the_recording_resumes(crash, kc, tmp_path):
    directory = tmp_path / "gap"
    proc = start_record(kc, "bad", "--dir", str(directory))
    try:
        wait_for(lambda: ended(directory, "bad") or proc.poll() is not None, timeout=60, step=0.2)
        crash.fault("restart-apiserver", down=3.0)
        wait_for(lambda: any(d.get("type") == "gap" for d in lines(directory / "crash/bad/incarnations.ndjson"))
                 or proc.poll() is not None, timeout=60, step=0.2)
        after = len(ended(directory, "bad"))
        wait_for(lambda: len(ended(directory, "bad")) > after or proc.poll() is not None, timeout=60, step=0.2)
    finally:
        code, err = stop(proc)
    assert code == 0, err
    gap = next(d for d in lines(directory / "crash/bad/incarnations.ndjson") if d.get("type") == "gap")
    assert gap["from"] < gap["to"] and gap["seconds"] > 0 and gap["reason"]
    assert "lost the API server" in err and "answers again" in err
    doc = history_json(kc, "bad", "--dir", str(directory))
    assert doc["gaps"] and doc["gaps"][0]["from"] == gap["from"]
    assert "gap in the recording" in run_cli(["history", "bad", "--dir", str(directory)], kubeconfig=kc).stdout


def test_forbidden_pod_logs_record_without_logs_and_say_so_once(crash, tmp_path):
    crash.add_token("no-logs", "watcher", [{"verbs": ["get", "list", "watch"],
                                           "resources": ["pods", "leaderworkersets", "events", "namespaces"]}])
    kc = crash.write_kubeconfig(tmp_path / "kc.yaml", token="no-logs", namespace="crash")
    directory = tmp_path / "nologs"
    err = record_until(kc, directory, "bad", 2)
    assert err.count("cannot read pods/log") == 1 and "goes on without logs" in err
    incs = ended(directory, "bad", whole=True)
    assert all(i["end"]["exitCode"] == 1 for i in incs[-2:])  # the pods still say how it ended
    assert not list(directory.rglob("*.log"))


def test_restart_leaves_a_trace_that_history_names(crash, kc, tmp_path):
    directory = tmp_path / "restart"
    proc = start_record(kc, "bad", "--dir", str(directory))
    try:
        wait_for(lambda: (directory / "recording.json").exists() and proc.poll() is None, timeout=30)
        time.sleep(1.0)
        r = run_cli(["restart", "bad", "-g", "1", "--yes"], kubeconfig=kc)
        assert r.exit_code == 0, r.stderr
        wait_for(lambda: [i for i in ended(directory, "bad") if i["group"] == 1] or proc.poll() is not None,
                 timeout=60, step=0.2)
    finally:
        code, err = stop(proc)
    assert code == 0, err
    inc = next(i for i in ended(directory, "bad") if i["group"] == 1)
    assert inc["end"]["kind"] == "restart" and "kubectl lws restart" in inc["end"]["detail"]


@contextlib.contextmanager
def tmpfs(mount: Path, options: str):
    """A 64 KiB tmpfs at ``mount`` (root only, as CI runs; skipped where it cannot be mounted)."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options}size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """The disk a recording fills up."""
    with tmpfs(tmp_path / "small", "") as mount:
        yield mount


def test_a_full_disk_is_one_clear_error_and_every_line_written_stays_whole(crash, kc, small_disk):
    directory = small_disk / "rec"
    r = subprocess.run([sys.executable, "-m", "kubectl_lws", "record", "-A", "--dir", str(directory), "--for", "90"],
                       env={**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "Traceback" not in r.stderr
    assert "everything recorded so far is kept" in r.stderr
    for path in directory.rglob("*.ndjson"):
        lines(path)  # every line complete JSON (lines() asserts the file ends with a newline)
    json.loads((directory / "recording.json").read_text())


def test_an_unwritable_dir_is_one_clear_error(crash, kc, tmp_path):
    with tmpfs(tmp_path / "ro", "ro,") as mount:
        r = run_cli(["record", "bad", "--dir", str(mount / "rec"), "--for", "5s"], kubeconfig=kc)
    assert r.exit_code == 1 and "cannot write" in r.stderr and "Read-only file system" in r.stderr


def test_status_and_list_say_how_the_last_incarnation_of_a_looping_group_ended(crash, kc):
    """Issue 28 item 3: a group in a re-creation loop shows how its last incarnation ended, from the pods'
    termination records. With the LWS controller paused after the loop has begun, the crashed worker restarts
    in place (restartCount, lastState) and is not re-created: the record stays there to be read, the newest run
    of the crash-looping container (not an older one) is the one named."""
    def looping(name: str) -> bool:
        r = run_cli(["status", name, "-o", "json"], kubeconfig=kc)
        return r.exit_code in (0, 1) and any((g.get("recreations") or {}).get("loop")
                                             for g in json.loads(r.stdout)["groups"])

    def restarted(pod: str, times: int) -> bool:
        obj = crash.get("pods", "crash", pod) or {}
        return not obj.get("metadata", {}).get("deletionTimestamp") and any(
            int(cs.get("restartCount") or 0) >= times for cs in (obj.get("status") or {}).get("containerStatuses") or [])

    def paused_with_both_workers_running() -> bool:
        """Pause the LWS controller at a moment both crashing workers run (a group being re-created then
        would stay without its worker); else resume and try again."""
        if not (restarted("bad-0-1", 0) and restarted("oom-0-1", 0)):
            return False
        crash.fault("pause-controller", controller="lws", on=True)
        if restarted("bad-0-1", 0) and restarted("oom-0-1", 0):
            return True
        crash.fault("pause-controller", controller="lws", on=False)
        return False

    wait_for(lambda: looping("bad") and looping("oom"), timeout=90, step=0.5)
    try:
        wait_for(paused_with_both_workers_running, timeout=60, step=0.02)
        wait_for(lambda: restarted("bad-0-1", 2) and restarted("oom-0-1", 1), timeout=30, step=0.1)
        doc = json.loads(run_cli(["status", "bad", "-o", "json"], kubeconfig=kc).stdout)
        group = next(g for g in doc["groups"] if g["index"] == 0)
        assert (group["recreations"]["lastEnd"], group["recreations"]["lastEndFrom"]) == ("w1 exit 1 Error", "pods")
        text = run_cli(["status", "bad"], kubeconfig=kc).stdout
        assert "loop: w1 exit 1 Error, " in text
        wide = run_cli(["list", "-o", "wide"], kubeconfig=kc).stdout
        rows = {line.split()[0]: line for line in wide.splitlines()[1:]}
        assert "group 0" in rows["bad"] and "loop: w1 exit 1 Error, " in rows["bad"]
        assert "loop: w1 exit 137 OOMKilled, " in rows["oom"]
    finally:
        crash.fault("pause-controller", controller="lws", on=False)
