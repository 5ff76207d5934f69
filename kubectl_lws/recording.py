"""A recording on disk: the folder ``record`` writes and ``history`` and ``report --recording`` read.

Layout (docs/record.md)::

    DIR/recording.json                                  header: format, cluster, versions, sessions, command
    DIR/.lock                                           held by the one recorder writing DIR (flock)
    DIR/<namespace>/<lws>/incarnations.ndjson           one complete JSON line per ended incarnation (and gaps)
    DIR/<namespace>/<lws>/events.ndjson                 the LWS's events, one line per new or repeated event
    DIR/<namespace>/<lws>/g<group>/<incarnation>/<pod>.<container>.log

Writing: a JSON line is written whole or not at all (a failed write is cut back to where the line
began, so no reader ever meets half a line); the header is replaced atomically; every write counts
towards ``--max-size``, and ``rotate`` removes the oldest ended incarnations' folders first. Any
``OSError`` (unwritable, disk full) becomes one ``RecordingError`` naming the file and why.

Reading: ``RecordingReader`` opens a DIR, or a ``report`` archive (zip, tar.gz) holding one under
``recording/``, refuses a newer format, and hands out lines and file names relative to DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from kubectl_lws import errors

HEADER = "recording.json"
LOCK = ".lock"
KIND = "LwsRecording"
FORMAT_VERSION = 1
INCARNATIONS = "incarnations.ndjson"
EVENTS = "events.ndjson"
BUNDLE_FOLDER = "recording"  # where `report --recording` puts one in its archive


class RecordingError(errors.LwsError):
    """The recording's folder cannot be written (or read): exit 1, what was written so far stays valid."""


def write_failed(path: str | os.PathLike, exc: OSError) -> RecordingError:
    return RecordingError(f"cannot write {path}: {exc.strerror or exc}",
                          hint="free space or choose another --dir; everything recorded so far is kept and readable")


def close_quietly(fh: Any) -> None:
    """Close a file at the end of a session: a close that fails then has nothing left to save. Returns None
    (for ``self._fh = close_quietly(self._fh)``)."""
    if fh is not None:
        try:
            fh.close()
        except OSError:
            pass
    return None


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def lws_folder(namespace: str, lws: str) -> str:
    return f"{namespace}/{lws}"


def incarnation_folder(namespace: str, lws: str, group: int | str, incarnation: str) -> str:
    return f"{namespace}/{lws}/g{group}/{incarnation}"


def log_name(pod: str, container: str) -> str:
    return f"{pod}.{container}.log"


class LogFile:
    """One log file of an incarnation, appended to by one stream (or one tail) and shrunk by rotation."""

    def __init__(self, recording: "RecordingDir", relpath: str) -> None:
        self.recording = recording
        self.relpath = relpath
        self.path = recording.root / relpath
        self.bytes = 0
        self.lock = threading.Lock()
        self._fh: Any = None

    def append(self, data: bytes) -> None:
        if not data:
            return
        with self.lock:
            try:
                if self._fh is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 — kept open for the stream
                    self.bytes = self._fh.tell()
                self._fh.write(data)
            except OSError as exc:
                raise write_failed(self.path, exc) from None
            self.bytes += len(data)
        self.recording.account(len(data))

    def shrink(self, keep: int) -> int:
        """Keep only the newest ``keep`` bytes (from a line start); returns the bytes freed."""
        with self.lock:
            try:
                size = self.path.stat().st_size
            except OSError:
                return 0
            if size <= keep:
                return 0
            try:
                with open(self.path, "rb") as fh:
                    fh.seek(size - keep)
                    tail = fh.read()
                cut = tail.find(b"\n")
                if 0 <= cut < len(tail) - 1:
                    tail = tail[cut + 1:]
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_bytes(tail)
                os.replace(tmp, self.path)
                if self._fh is not None:
                    self._fh.close()
                    self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115
            except OSError as exc:
                raise write_failed(self.path, exc) from None
            self.bytes = len(tail)
        freed = size - len(tail)
        self.recording.account(-freed)
        return freed

    def close(self) -> None:
        with self.lock:
            self._fh = close_quietly(self._fh)


class RecordingDir:
    """The folder a recorder writes: lock, header, JSON lines, log files, the size bound and rotation."""

    def __init__(self, root: str | os.PathLike, *, max_size: int, say: Callable[[str], None]) -> None:
        self.root = Path(root)
        self.max_size = max_size
        self.say = say
        self.used = 0
        self.header: dict = {}
        self._lock_fh: Any = None
        self._count_lock = threading.Lock()
        self.rotations = 0

    # ---- opening ---------------------------------------------------------------------------------
    def open(self, header: dict, same_cluster: Callable[[dict], str | None]) -> None:
        """Create or reopen DIR for a new session, holding its lock. ``same_cluster(old_cluster)`` returns
        why DIR's recording is of another cluster (refused), or None."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise RecordingError(f"--dir {root}: exists and is not a directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_failed(root, exc) from None
        self._take_lock()
        existing = root / HEADER
        if existing.exists():
            old = read_header_file(existing)
            why = same_cluster(old.get("cluster") or {})
            if why:
                raise RecordingError(f"--dir {root} holds a recording of another cluster ({why})",
                                     hint="choose another --dir for this cluster")
            sessions = list(old.get("sessions") or [])
            self.header = {**old, **{k: v for k, v in header.items() if k != "started"}}
            self.header["sessions"] = sessions + header["sessions"]
        else:
            if any(p.name not in (LOCK,) for p in root.iterdir()):
                raise RecordingError(f"--dir {root} is not empty and holds no recording ({HEADER})",
                                     hint="choose an empty or new directory")
            self.header = dict(header)
        self.write_header()
        self.used = _tree_size(root)

    def _take_lock(self) -> None:
        import fcntl

        path = self.root / LOCK
        try:
            fh = open(path, "a+")  # noqa: SIM115 — held for the recorder's lifetime
        except OSError as exc:
            raise write_failed(path, exc) from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise RecordingError(f"--dir {self.root} is being written by another kubectl lws record"
                                 + (f" (pid {holder})" if holder.isdigit() else ""),
                                 hint="stop it first, or record into another --dir") from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
        except OSError as exc:
            fh.close()
            raise write_failed(path, exc) from None
        self._lock_fh = fh

    def write_header(self) -> None:
        path = self.root / HEADER
        tmp = path.with_name(HEADER + ".tmp")
        try:
            tmp.write_text(json.dumps(self.header, indent=2, ensure_ascii=False) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise write_failed(path, exc) from None

    def close(self, stopped: str, summary: dict) -> None:
        """Note the session's end in the header (best effort: a full disk must not hide the real error)."""
        if self.header.get("sessions"):
            self.header["sessions"][-1].update(stopped=stopped, **summary)
            try:
                self.write_header()
            except RecordingError:
                pass
        self._lock_fh = close_quietly(self._lock_fh)

    # ---- writing ---------------------------------------------------------------------------------
    def account(self, n: int) -> None:
        with self._count_lock:
            self.used += n

    def append_json(self, relpath: str, doc: dict) -> None:
        """One complete line or nothing: a failed write is cut back to where the line began."""
        path = self.root / relpath
        line = (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise write_failed(path, exc) from None
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(28, os.strerror(28))  # a short write: the disk is full
            except OSError as exc:
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass
                raise write_failed(path, exc) from None
        finally:
            os.close(fd)
        self.account(len(line))

    def log_file(self, relpath: str) -> LogFile:
        return LogFile(self, relpath)

    # ---- the size bound ----------------------------------------------------------------------------
    def over(self) -> bool:
        return self.used > self.max_size

    def rotate(self, live: set[str], live_logs: list[LogFile]) -> None:
        """Bring DIR under ``max_size``: remove ended incarnations' folders, oldest first (incarnation folders
        are named by creation time), one stderr line each; if only live ones are left, cut the biggest live
        log files down to their newest half."""
        target = int(self.max_size * 0.9)
        if self.used <= self.max_size:
            return
        for folder in self._ended_folders(live):
            if self.used <= target:
                return
            size = _tree_size(self.root / folder)
            try:
                shutil.rmtree(self.root / folder)
            except OSError as exc:
                raise RecordingError(f"cannot remove {self.root / folder} while rotating: {exc.strerror or exc}") \
                    from None
            self.account(-size)
            self.rotations += 1
            self.say(f"rotated: removed {folder} ({size_text(size)}) to stay under --max-size "
                     f"{size_text(self.max_size)}")
        for log in sorted(live_logs, key=lambda lf: lf.bytes, reverse=True):
            if self.used <= target:
                return
            freed = log.shrink(max(log.bytes // 2, 1))
            if freed:
                self.rotations += 1
                self.say(f"rotated: cut {log.relpath} to its newest {size_text(log.bytes)} "
                         f"({size_text(freed)} freed) to stay under --max-size {size_text(self.max_size)}")

    def _ended_folders(self, live: set[str]) -> list[str]:
        found: list[tuple[str, str]] = []
        for ns in _dirs(self.root):
            for lws in _dirs(ns):
                for group in _dirs(lws):
                    if not group.name.startswith("g"):
                        continue
                    for inc in _dirs(group):
                        rel = inc.relative_to(self.root).as_posix()
                        if rel not in live:
                            found.append((inc.name, rel))
        return [rel for _, rel in sorted(found)]


def _dirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir())
    except OSError:
        return []


def _tree_size(path: Path) -> int:
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


def read_header_file(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordingError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return check_header(doc, str(path))


def check_header(doc: Any, where: str) -> dict:
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise RecordingError(f"{where} is not a kubectl lws recording header")
    version = doc.get("formatVersion")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RecordingError(f"{where} was written by a newer kubectl-lws (recording format {version}); this one "
                             f"reads format {FORMAT_VERSION}", hint="upgrade kubectl-lws to read it")
    return doc


# ---- reading ------------------------------------------------------------------------------------------

class RecordingReader:
    """A recording to read: DIR itself, or a ``report`` archive (zip, tar.gz) with one under ``recording/``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._files: dict[str, Callable[[], bytes]] = {}
        p = Path(path)
        if p.is_dir():
            if not (p / HEADER).exists():
                raise RecordingError(f"--dir {path} holds no recording ({HEADER} is missing)",
                                     hint="record one with: kubectl lws record NAME --dir DIR")
            for base, _, files in os.walk(p):
                for name in files:
                    full = Path(base) / name
                    rel = full.relative_to(p).as_posix()
                    self._files[rel] = lambda full=full: full.read_bytes()
        elif p.is_file():
            self._open_archive(p)
        else:
            raise RecordingError(f"--dir {path}: no such directory or report archive")
        data = self.read(HEADER)
        if data is None:
            raise RecordingError(f"{path} holds no recording ({HEADER} is missing)")
        try:
            doc = json.loads(data)
        except ValueError:
            raise RecordingError(f"{path}: {HEADER} is not valid JSON") from None
        self.header = check_header(doc, f"{path}: {HEADER}")

    def _open_archive(self, p: Path) -> None:
        """Index the members under ``<top>/recording/`` of a report archive (read lazily)."""
        import tarfile
        import zipfile

        members: dict[str, Callable[[], bytes]] = {}
        try:
            if zipfile.is_zipfile(p):
                zf = zipfile.ZipFile(p)
                for name in zf.namelist():
                    members[name] = lambda name=name: zf.read(name)
            elif tarfile.is_tarfile(str(p)):
                tf = tarfile.open(p)
                for info in tf.getmembers():
                    if info.isfile():
                        members[info.name] = lambda info=info: tf.extractfile(info).read()  # type: ignore[union-attr]
            else:
                raise RecordingError(f"--dir {p}: neither a directory nor a report archive (.zip, .tar.gz)")
        except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
            raise RecordingError(f"cannot read {p}: {exc}") from None
        for name, read in members.items():
            parts = PurePosixPath(name).parts
            if len(parts) > 2 and parts[1] == BUNDLE_FOLDER and ".." not in parts:
                self._files["/".join(parts[2:])] = read
        if not self._files:
            raise RecordingError(f"{p} is a report archive without a recording",
                                 hint="make one with: kubectl lws report NAME --recording DIR")

    def read(self, relpath: str) -> bytes | None:
        read = self._files.get(relpath)
        if read is None:
            return None
        try:
            return read()
        except (OSError, KeyError) as exc:
            raise RecordingError(f"cannot read {relpath} in {self.path}: {exc}") from None

    def exists(self, relpath: str) -> bool:
        return relpath in self._files

    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self._files if n.startswith(prefix))

    def lines(self, relpath: str) -> Iterator[dict]:
        """The complete JSON lines of an ndjson file (a line being written as it was read is skipped)."""
        data = self.read(relpath) or b""
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict):
                yield doc
