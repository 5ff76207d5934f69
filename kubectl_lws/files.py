"""The files kubectl-lws writes (report archives, saved logs, the completion shim) and stdout.

One way for all of them, so that none can go wrong on its own:

- **named safely**: a name that comes from the cluster (a pod, a container) or from the output file's
  name (an archive's top folder) becomes one path component (:func:`safe_component`), so nothing is
  written outside the folder it belongs in: no ``..``, no ``/``, no absolute member in an archive;
- **atomic**: written to a temporary file beside the target and renamed onto it only once complete
  (:class:`Staged`); a failure removes the temporary file, so no partial file is ever left. The rename
  replaces whatever is at the target's name, a symbolic link included, and never writes through a link;
- **failures in one sentence**: an ``OSError`` (read-only folder, full disk, file-size limit, name too
  long, a directory where a file is expected, ...) becomes :class:`WriteFailed` (exit 1): what could not
  be written and why, in words (:func:`cannot_write`).
"""

from __future__ import annotations

import errno
import io
import os
import re
import time
from typing import IO

from kubectl_lws import errors

_WHY = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file size limit was reached",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.ENOENT: "the folder does not exist",
    errno.EEXIST: "it already exists",
    errno.EIO: "an input/output error",
    errno.EMFILE: "too many open files",
    errno.EXDEV: "the temporary file is on another file system",
}


class WriteFailed(errors.LwsError):
    """A file (or stdout) could not be written: exit 1, one sentence."""


def why(exc: OSError) -> str:
    """The reason of an ``OSError`` in a few words (no ``[Errno 30]``)."""
    text = _WHY.get(exc.errno or -1)
    if text is None:
        text = (exc.strerror or type(exc).__name__).lower()
    return text


def cannot_write(what: object, exc: OSError) -> WriteFailed:
    """``cannot write WHAT: WHY`` as the error the CLI prints (exit 1)."""
    return WriteFailed(f"cannot write {what}: {why(exc)}")


# ---- names -----------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
MAX_COMPONENT = 200  # bytes of one name (file systems allow 255)


def safe_component(text: object, fallback: str = "_") -> str:
    """``text`` as one safe file or folder name: only ``A-Z a-z 0-9 . _ + -`` (anything else, ``/``
    included, becomes ``_``), never ``.``, ``..`` or empty (``fallback`` then), at most 200 characters.
    Kubernetes names pass unchanged."""
    name = _UNSAFE.sub("_", "" if text is None else str(text))[:MAX_COMPONENT]
    return fallback if not name.strip(".") else name


def member_path(root: str, name: str) -> str:
    """``root/a/b`` for an archive member: every component made safe, so none can leave the root."""
    parts = [safe_component(p) for p in name.split("/") if p not in ("", ".")]
    return "/".join([safe_component(root, "report"), *parts])


# ---- atomic writes ---------------------------------------------------------------------------------

class Staged:
    """A temporary file beside ``target``, renamed onto it by :meth:`commit`, removed by :meth:`discard`.

    ``what`` names the target in error messages. Every ``OSError`` on the way is a :class:`WriteFailed`,
    and the temporary file is gone after either."""

    def __init__(self, target: str | os.PathLike, what: object | None = None) -> None:
        import tempfile

        self.target = os.fspath(target)
        self.what = self.target if what is None else what
        check_target(self.target, self.what)
        directory = os.path.dirname(os.path.abspath(self.target)) or "."
        base = os.path.basename(self.target)[:100]
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise cannot_write(self.what, exc) from None
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.done = False

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            self.discard()
            raise cannot_write(self.what, exc) from None

    def commit(self, *, executable: bool = False) -> int:
        """Close, set the mode (0644, or 0755 when ``executable``, less the umask), rename onto the
        target; returns the size."""
        try:
            self.file.close()
            os.chmod(self.tmp, (0o755 if executable else 0o644) & ~_umask())
            size = os.path.getsize(self.tmp)
            os.replace(self.tmp, self.target)  # replaces a link at the name itself, never its target
        except OSError as exc:
            self.discard()
            raise cannot_write(self.what, exc) from None
        self.done = True
        return size

    def discard(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.file.close()
        except OSError:
            pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def check_target(target: str | os.PathLike, what: object | None = None) -> None:
    """Refuse at once what no write could fix: a directory at the name, a name too long, a path
    through a file (``lstat`` says so without creating anything; a name that does not exist yet is fine)."""
    what = os.fspath(target) if what is None else what
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise cannot_write(what, exc) from None
    import stat

    if stat.S_ISDIR(info.st_mode):
        raise WriteFailed(f"cannot write {what}: it is a directory")


def write_file(target: str | os.PathLike, data: bytes | str, *, executable: bool = False,
               what: object | None = None) -> int:
    """Write ``data`` to ``target`` atomically (see :class:`Staged`); returns the bytes written."""
    staged = Staged(target, what)
    staged.write(data.encode() if isinstance(data, str) else data)
    return staged.commit(executable=executable)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- archives --------------------------------------------------------------------------------------

ARCHIVE_KINDS = {".zip": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}


def archive_kind(path: str) -> str | None:
    """``zip`` or ``tar.gz`` from the file's name, or None."""
    lower = path.lower()
    return next((kind for ext, kind in ARCHIVE_KINDS.items() if lower.endswith(ext)), None)


def archive_root(path: str, fallback: str) -> str:
    """The archive's one top folder: the file's name without its extension, made safe (``...zip``,
    ``.zip`` or ``.tgz`` give ``fallback``)."""
    root = os.path.basename(path)
    for ext in ARCHIVE_KINDS:
        if root.lower().endswith(ext):
            root = root[: -len(ext)]
            break
    return safe_component(root, safe_component(fallback, "report"))


class Archive:
    """A zip or tar.gz written through :class:`Staged`: every member under one safe top folder
    (:func:`member_path`), renamed into place by ``commit``, removed by ``discard``. A write that
    failed (a full disk) is remembered: every later ``add`` and the ``commit`` raise it again, so a
    caller that records per-item failures cannot end with a half-written archive."""

    def __init__(self, path: str, kind: str, root: str) -> None:
        self.path = path
        self.kind = kind
        self.root = safe_component(root, "report")
        self.files: list[dict] = []
        self.failed: WriteFailed | None = None
        self._staged = Staged(path)
        self._mtime = time.time()
        try:
            if kind == "zip":
                import zipfile

                self._zip = zipfile.ZipFile(self._staged.file, "w", compression=zipfile.ZIP_DEFLATED,
                                            compresslevel=6)
            else:
                import tarfile

                self._tar = tarfile.open(fileobj=self._staged.file, mode="w:gz", compresslevel=6)
        except OSError as exc:
            self._staged.discard()
            raise cannot_write(path, exc) from None

    def add(self, name: str, data: bytes | str) -> str:
        """Add one member (``name`` relative to the top folder); returns the name it got."""
        if self.failed is not None:
            raise self.failed
        raw = data.encode() if isinstance(data, str) else data
        full = member_path(self.root, name)
        try:
            if self.kind == "zip":
                self._zip.writestr(full, raw)
            else:
                import tarfile

                info = tarfile.TarInfo(full)
                info.size = len(raw)
                info.mtime = int(self._mtime)
                info.mode = 0o644
                self._tar.addfile(info, io.BytesIO(raw))
        except OSError as exc:
            self.failed = cannot_write(self.path, exc)
            self.discard()
            raise self.failed from None
        relative = full.split("/", 1)[1]
        self.files.append({"path": relative, "bytes": len(raw)})
        return relative

    def _close(self) -> None:
        if self.kind == "zip":
            self._zip.close()
        else:
            self._tar.close()

    def commit(self) -> int:
        if self.failed is not None:
            raise self.failed
        try:
            self._close()
        except OSError as exc:
            self.discard()
            raise cannot_write(self.path, exc) from None
        return self._staged.commit()

    def discard(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 — the file goes away anyway
            pass
        self._staged.discard()


# ---- stdout ----------------------------------------------------------------------------------------

def stdout_failure(exc: BaseException) -> WriteFailed | None:
    """The error for an ``OSError`` that writing stdout raised (``>/dev/full``, a file-size limit, a
    quota), else None. Every file we write goes through this module and fails as :class:`WriteFailed`,
    and failures to open or read a file carry its name: a write error without one is the output's."""
    if not isinstance(exc, OSError) or isinstance(exc, BrokenPipeError) or exc.filename is not None:
        return None
    if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO):
        return None
    return cannot_write("to standard output", exc)
