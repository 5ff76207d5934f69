"""Issue 25 classes 3 and 5: the files we write.

Class 3: every archive `report` can write keeps all members under one safe top folder, whatever the
output's name (`...zip`, `.zip`, `.tgz`): extracted, nothing leaves the extraction folder.
Class 5: a file that cannot be written (read-only folder, full disk, file-size limit, name too long, a
directory in the way) is one sentence naming what and why, exit 1, and no partial or temporary file is
left; stdout too (`>/dev/full`).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

NAMES = ["...zip", ".zip", ".tgz", "..tar.gz", "....tgz", ".tar.gz", "-.zip", "a b.zip", "ü.tar.gz",
         "x..tgz", "$(touch pwned).zip", "report.ZIP"]


def _members(path: Path) -> list[str]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    with tarfile.open(path) as t:
        return t.getnames()


def _extract(path: Path, into: Path) -> None:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                target = (into / member).resolve()
                assert target.is_relative_to(into.resolve()), member
            z.extractall(into)
    else:
        with tarfile.open(path) as t:
            t.extractall(into, filter="data")  # refuses absolute and escaping members


@pytest.mark.parametrize("name", NAMES)
def test_every_archive_stays_under_one_safe_top_folder(kc, proc, tmp_path: Path, name: str) -> None:  # noqa: ANN001
    tmp_path = tmp_path / "w"
    out = tmp_path / "out"
    out.mkdir(parents=True)
    target = out / name
    done = proc(["report", "web", "--output", str(target), "--logs", "none"], kubeconfig=kc)
    assert done.returncode == 0, done.stderr
    members = _members(target)
    tops = {m.split("/", 1)[0] for m in members}
    assert len(tops) == 1, tops
    top = tops.pop()
    assert top not in ("", ".", "..") and "/" not in top and not top.startswith("/"), top
    for m in members:
        assert not m.startswith("/") and ".." not in m.split("/"), m
    into = tmp_path / "x"
    into.mkdir()
    _extract(target, into)
    assert {p.name for p in tmp_path.iterdir()} == {"out", "x"}  # nothing landed beside the folders
    assert [p.name for p in into.iterdir()] == [top]
    assert sorted(p.name for p in out.iterdir()) == [name]  # no temporary file left


def test_names_are_made_safe() -> None:
    from kubectl_lws.files import archive_root, member_path, safe_component

    assert archive_root("/d/...zip", "report_ns_web_t") == "report_ns_web_t"
    assert archive_root("/d/.tgz", "fallback") == "fallback"
    assert archive_root("/d/my.report.tar.gz", "f") == "my.report"
    assert member_path("..", "../../etc/passwd") == "report/_/_/etc/passwd"
    assert member_path("r", "logs/leaders/web-0/main.log") == "r/logs/leaders/web-0/main.log"
    assert member_path("r", "/abs/x") == "r/abs/x"
    assert safe_component("a/b\x1b[2J") == "a_b__2J" and safe_component("..") == "_"


# ---- class 5 ---------------------------------------------------------------------------------------

def _one_sentence(stderr: str, *needles: str) -> None:
    """One error line, the last, after progress lines (if any)."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and errors[0].startswith("error: cannot write "), stderr
    for word in ("Errno", "unexpected", "Traceback", "OSError", "PermissionError", "IsADirectoryError"):
        assert word not in stderr, stderr
    for needle in needles:
        assert needle in stderr, stderr


def _readonly(tmp_path: Path) -> Path:
    """A folder we cannot write to, even as root: a read-only bind mount or, failing that, skip."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only folder here: {done.stderr.decode().strip()}")
    subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True)
    return folder


@pytest.fixture
def readonly(tmp_path: Path):  # noqa: ANN201
    folder = _readonly(tmp_path)
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["umount", str(folder)], capture_output=True)


def _fsize_limit(limit: int):  # noqa: ANN202
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_report_into_a_read_only_folder(kc, proc, readonly: Path) -> None:  # noqa: ANN001
    done = proc(["report", "web", "--output", str(readonly / "r.zip")], kubeconfig=kc)
    assert done.returncode == 1
    _one_sentence(done.stderr, str(readonly / "r.zip"), "read-only")
    assert list(readonly.iterdir()) == []


def test_report_write_failures(hard, kc, proc, tmp_path: Path) -> None:  # noqa: ANN001
    hard.request_log.clear()
    (tmp_path / "d.zip").mkdir()
    cases = [
        (tmp_path / "d.zip", ["--force"], "it is a directory"),
        (tmp_path / "missing" / "r.zip", [], "does not exist"),
        (tmp_path / ("n" * 300 + ".zip"), [], "too long"),
        (tmp_path / "file" / "r.zip", [], "not a directory"),
    ]
    (tmp_path / "file").write_text("x")
    for target, extra, why in cases:
        done = proc(["report", "web", "--output", str(target), *extra], kubeconfig=kc)
        assert done.returncode == 1, (target, done.stderr)
        _one_sentence(done.stderr, why)
    assert hard.request_log.snapshot() == []  # refused before anything was read
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.zip", "file", "kc.yaml"]


def test_report_hitting_the_file_size_limit_leaves_nothing(kc, tmp_path: Path) -> None:  # noqa: ANN001
    env = {**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-m", "kubectl_lws", "report", "web", "--output", str(out / "r.tgz")],
                          capture_output=True, text=True, env=env, timeout=60, preexec_fn=_fsize_limit(2048))
    assert done.returncode == 1, done.stderr
    _one_sentence(done.stderr, "file size limit")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("args", [["version"], ["list"], ["status", "web"], ["report", "web", "--help"]])
def test_stdout_on_a_full_disk(kc, args: list[str]) -> None:  # noqa: ANN001
    env = {**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "kubectl_lws", *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr == "error: cannot write to standard output: no space left on the device\n"


def test_save_logs_failures(kc, proc, readonly: Path, tmp_path: Path) -> None:  # noqa: ANN001
    for target, why in ((readonly / "logs", "read-only"), (tmp_path / ("n" * 300), "too long")):
        done = proc(["restart", "web", "-g", "0", "--save-logs", str(target), "-y"], kubeconfig=kc)
        assert done.returncode == 1, done.stderr
        _one_sentence(done.stderr, why)
        assert "restarted" not in done.stdout
    assert list(readonly.iterdir()) == []


def test_completion_install_failures(proc, readonly: Path, tmp_path: Path) -> None:  # noqa: ANN001
    (readonly.parent / "krew").mkdir()
    done = proc(["completion", "install", "--krew-root", str(readonly.parent / "krew")])
    assert done.returncode == 1  # no bin folder
    root = tmp_path / "k2"
    (root / "bin" / "kubectl_complete-lws").mkdir(parents=True)
    done = proc(["completion", "install", "--krew-root", str(root)])
    assert done.returncode == 1
    _one_sentence(done.stderr, "kubectl_complete-lws", "it is a directory")
