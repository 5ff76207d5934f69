"""recording.py (the folder on disk) and model/history over recorded lines: whole JSON lines or none, the size
bound and rotation, the lock, reading DIR and report archives, the history document."""
from __future__ import annotations

import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from kubectl_lws import recording as R
from kubectl_lws.model import history as H


def header(server: str = "https://a:6443", version: int = 1) -> dict:
    return {"kind": R.KIND, "formatVersion": version, "started": "2026-11-22T10:00:00.000Z",
            "cluster": {"server": server, "uid": None}, "sessions": [{"started": "2026-11-22T10:00:00.000Z"}]}


def open_dir(path: Path, max_size: int = 1 << 30, said: list | None = None) -> R.RecordingDir:
    rec = R.RecordingDir(path, max_size=max_size, say=(said if said is not None else []).append)
    rec.open(header(), lambda old: None)
    return rec


def test_a_json_line_is_written_whole_or_cut_back(tmp_path, monkeypatch):
    rec = open_dir(tmp_path / "d")
    rec.append_json("ns/x/incarnations.ndjson", {"type": "incarnation", "n": 1})
    real_write = os.write

    def half(fd, data):  # the disk fills up in the middle of the line
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(R.RecordingError, match="No space left on device"):
        rec.append_json("ns/x/incarnations.ndjson", {"type": "incarnation", "n": 2, "pad": "y" * 100})
    monkeypatch.setattr(os, "write", real_write)
    raw = (tmp_path / "d/ns/x/incarnations.ndjson").read_bytes()
    assert raw.endswith(b"\n") and [json.loads(x)["n"] for x in raw.splitlines()] == [1]


def test_the_lock_refuses_a_second_writer_and_a_folder_that_is_not_a_recording(tmp_path):
    first = open_dir(tmp_path / "d")
    with pytest.raises(R.RecordingError, match=rf"being written by another kubectl lws record \(pid {os.getpid()}\)"):
        open_dir(tmp_path / "d")
    first.close("2026-11-22T11:00:00.000Z", {"endedIncarnations": 0})
    again = open_dir(tmp_path / "d")  # released: a new session, appended to the header
    assert len(again.header["sessions"]) == 2 and again.header["sessions"][0]["stopped"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("x")
    with pytest.raises(R.RecordingError, match="not empty and holds no recording"):
        open_dir(tmp_path / "other")
    rec = R.RecordingDir(tmp_path / "d2", max_size=1 << 20, say=print)
    rec.open(header(), lambda old: None)
    rec.close("x", {})
    with pytest.raises(R.RecordingError, match="another cluster"):
        R.RecordingDir(tmp_path / "d2", max_size=1 << 20, say=print).open(header(), lambda old: "server a")


def test_rotation_removes_the_oldest_ended_incarnations_first_then_cuts_live_logs(tmp_path):
    said: list[str] = []
    rec = open_dir(tmp_path / "d", max_size=40_000, said=said)
    for stamp in ("20261122T100000Z-a", "20261122T100100Z-b", "20261122T100200Z-c"):
        log = rec.log_file(f"ns/x/g0/{stamp}/x-0.main.log")
        log.append(b"line\n" * 3000)  # 15 kB each
        log.close()
    live = rec.log_file("ns/x/g0/20261122T100200Z-c/x-0.main.log")
    assert rec.over()
    rec.rotate({"ns/x/g0/20261122T100200Z-c"}, [live])
    left = sorted(p.name for p in (tmp_path / "d/ns/x/g0").iterdir())
    assert left == ["20261122T100100Z-b", "20261122T100200Z-c"] and not rec.over()
    assert len(said) == 1 and said[0].startswith("rotated: removed ns/x/g0/20261122T100000Z-a")
    # only live ones left: the biggest live log keeps its newest half, whole lines
    big = rec.log_file("ns/x/g0/20261122T100200Z-c/x-0.main.log")
    big.append(b"more\n" * 6000)
    rec.rotate({"ns/x/g0/20261122T100100Z-b", "ns/x/g0/20261122T100200Z-c"}, [big])
    data = (tmp_path / "d/ns/x/g0/20261122T100200Z-c/x-0.main.log").read_bytes()
    assert data.endswith(b"more\n") and data.startswith((b"line\n", b"more\n")) and not rec.over()
    assert said[-1].startswith("rotated: cut ns/x/g0/20261122T100200Z-c/x-0.main.log")
    assert rec.used == sum(p.stat().st_size for p in (tmp_path / "d").rglob("*") if p.is_file())


def test_reading_a_dir_and_a_report_archive_and_refusing_a_newer_format(tmp_path):
    rec = open_dir(tmp_path / "d")
    rec.append_json("ns/x/incarnations.ndjson", {"type": "incarnation", "group": 0})
    with open(tmp_path / "d/ns/x/incarnations.ndjson", "ab") as fh:
        fh.write(b'{"type": "incarnation", "gro')  # a line being written while it is read
    log = rec.log_file("ns/x/g0/20261122T100000Z-a/x-0.main.log")
    log.append(b"hello\n")
    reader = R.RecordingReader(str(tmp_path / "d"))
    assert list(reader.lines("ns/x/incarnations.ndjson")) == [{"type": "incarnation", "group": 0}]
    assert reader.read("ns/x/g0/20261122T100000Z-a/x-0.main.log") == b"hello\n"
    for kind in ("zip", "tar.gz"):
        archive = tmp_path / f"report.{kind}"
        if kind == "zip":
            with zipfile.ZipFile(archive, "w") as zf:
                for name in reader.names():
                    zf.writestr(f"report_ns_x/recording/{name}", reader.read(name))
                zf.writestr("report_ns_x/manifest.json", "{}")
        else:
            with tarfile.open(archive, "w:gz") as tf:
                for name in reader.names():
                    data = reader.read(name)
                    info = tarfile.TarInfo(f"report_ns_x/recording/{name}")
                    info.size = len(data)
                    import io
                    tf.addfile(info, io.BytesIO(data))
        inside = R.RecordingReader(str(archive))
        assert inside.names() == reader.names() and inside.header["formatVersion"] == 1
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / R.HEADER).write_text(json.dumps(header(version=R.FORMAT_VERSION + 1)))
    with pytest.raises(R.RecordingError, match="newer kubectl-lws"):
        R.RecordingReader(str(newer))
    (newer / R.HEADER).write_text(json.dumps({"kind": "Something"}))
    with pytest.raises(R.RecordingError, match="not a kubectl lws recording"):
        R.RecordingReader(str(newer))


def test_history_from_recorded_lines_newest_first_with_gaps_rotated_logs_and_live_folders():
    lines = [
        {"type": "incarnation", "group": 0, "leaderUID": "u1", "leaderPod": "x-0", "started": "2026-11-22T10:00:00Z",
         "ended": "2026-11-22T10:00:20Z", "ranForSeconds": 20.0, "folder": "ns/x/g0/20261122T100000Z-u1",
         "end": {"kind": "container", "exitCode": 1}, "logs": ["ns/x/g0/20261122T100000Z-u1/x-0-1.main.log"],
         "complete": True},
        {"type": "gap", "from": "2026-11-22T10:00:30.000Z", "to": "2026-11-22T10:00:40.000Z", "reason": "down",
         "seconds": 10.0},
        {"type": "incarnation", "group": 0, "leaderUID": "u2", "leaderPod": "x-0", "started": "2026-11-22T10:00:25Z",
         "ended": "2026-11-22T10:00:45Z", "folder": "ns/x/g0/20261122T100025Z-u2",
         "end": {"kind": "unknown"}, "logs": ["ns/x/g0/20261122T100025Z-u2/x-0.main.log"], "complete": False,
         "recordedFrom": "2026-11-22T10:00:40.000Z"},
        {"type": "something-newer"},
    ]
    files = ["ns/x/g0/20261122T100025Z-u2/x-0.main.log", "ns/x/g0/20261122T100050Z-u3/x-0.main.log",
             "ns/x/g1/20261122T090000Z-u9/x-1.main.log", "ns/x/events.ndjson"]
    doc = H.from_recording("x", "ns", lines, files, header(), where="DIR")
    assert doc["kind"] == "LeaderWorkerSetHistory" and doc["source"] == "recording"
    g0 = doc["groups"][0]["incarnations"]
    assert [i["leaderUID"] for i in g0] == ["u3", "u2", "u1"]
    assert g0[0]["current"] and g0[0]["started"] == "2026-11-22T10:00:50Z" and g0[0]["leaderPod"] == "x-0"
    assert g0[2]["logs"] == [] and g0[2]["rotated"] == ["ns/x/g0/20261122T100000Z-u1/x-0-1.main.log"]
    assert not g0[1]["complete"] and any("after it started" in n for n in g0[1]["notes"])
    assert doc["gaps"] == [{"from": "2026-11-22T10:00:30.000Z", "to": "2026-11-22T10:00:40.000Z", "reason": "down",
                            "seconds": 10.0}]
    only1 = H.from_recording("x", "ns", lines, files, header(), only=[1])
    assert [g["group"] for g in only1["groups"]] == [1]
    for inc in (i for g in doc["groups"] for i in g["incarnations"]):
        assert {"leaderUID", "started", "ended", "end", "logs"} <= set(inc)
