#!/usr/bin/env python3
"""Build the krew archive: a self-contained ``kubectl-lws`` zipapp + LICENSE, and its sha256.

    python krew/build.py [--out DIR] [--no-manifest]

The zipapp carries every runtime dependency, copied from the environment this script runs in
(install the project first: ``pip install .``), so the build needs no network. Some dependencies
have compiled parts (the kubernetes client needs pydantic-core), which Python cannot import from
inside a zip; so, as shiv does, the archive unpacks itself once into a per-build cache folder
(``$KUBECTL_LWS_CACHE``, default ``~/.cache/kubectl-lws``) and runs from there. The result is
therefore specific to the platform and Python minor version it was built with: build once per
krew platform. The archive's sha256 is written into that platform's entry of krew/lws.yaml.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipapp
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_SUFFIXES = (".pyc", ".exe")
FIXED_MTIME = 1577836800  # 2020-01-01, the earliest a zip entry can safely carry


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    """Runtime requirements of a distribution (markers evaluated, extras skipped)."""
    from packaging.requirements import Requirement  # packaging ships with pip's environments

    names = []
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        names.append(req.name)
    return names


def dependency_closure(root: str) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        todo.extend(_requirement_names(dist))
    return list(seen.values())


def stage(target: Path) -> None:
    """Copy our package and every dependency's importable files into ``target``."""
    for dist in dependency_closure("kubectl-lws"):
        if dist.metadata["Name"].lower() == "kubectl-lws":
            continue
        for file in dist.files or []:
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")) or parts[0] in ("..", "bin"):
                continue
            if "__pycache__" in parts or file.name.endswith(SKIP_SUFFIXES):
                continue
            source = Path(dist.locate_file(file))
            if source.is_file():
                dest = target / file
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)
    shutil.copytree(ROOT / "kubectl_lws", target / "kubectl_lws",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


BOOTSTRAP = '''"""Unpack this archive once per build into a cache folder and run kubectl-lws from there."""
import os
import sys
import tempfile
import zipfile
from pathlib import Path

BUILD_ID = "{build_id}"


def _unpacked() -> Path:
    archive = Path(__file__).resolve().parent
    cache = Path(os.environ.get("KUBECTL_LWS_CACHE") or "~/.cache/kubectl-lws").expanduser()
    target = cache / BUILD_ID
    if not (target / ".complete").exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        (tmp / ".complete").write_text(BUILD_ID)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race: use its copy
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return target


sys.path.insert(0, str(_unpacked()))
from kubectl_lws.cli import main  # noqa: E402

main()
'''


def build(out: Path) -> tuple[Path, str]:
    """Return the archive path and its sha256."""
    sys.path.insert(0, str(ROOT))
    from kubectl_lws import __version__

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        app_dir = Path(tmp) / "app"
        app_dir.mkdir()
        stage(app_dir)
        content = hashlib.sha256()
        for path in sorted(app_dir.rglob("*")):
            if path.is_file():
                content.update(str(path.relative_to(app_dir)).encode())
                content.update(path.read_bytes())
        build_id = f"{__version__}-{content.hexdigest()[:16]}"
        (app_dir / "__main__.py").write_text(BOOTSTRAP.format(build_id=build_id))
        for path in app_dir.rglob("*"):  # fixed timestamps: the same inputs give the same archive
            os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        binary = Path(tmp) / "kubectl-lws"
        zipapp.create_archive(app_dir, binary, interpreter="/usr/bin/env python3", compressed=True)
        shutil.copy2(binary, out / "kubectl-lws")
        archive = out / f"kubectl-lws_v{__version__}_{platform_tag()}.tar.gz"
        with open(archive, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w") as tar:
            for path, name in ((binary, "kubectl-lws"), (ROOT / "LICENSE", "LICENSE")):
                info = tar.gettarinfo(str(path), arcname=name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o755 if name == "kubectl-lws" else 0o644
                with open(path, "rb") as fh:
                    tar.addfile(info, io.BytesIO(fh.read()))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    return archive, digest


def platform_tag() -> str:
    """krew's os_arch for this machine, e.g. linux_amd64."""
    import platform

    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    return f"{sys.platform.replace('linux2', 'linux')}_{arch}"


def write_manifest(manifest: Path, version: str, digest: str) -> None:
    """Set the version and URIs everywhere, and this platform's sha256 (others keep theirs).

    Edits the text line by line so the hand-written layout and block scalars stay as they are.
    """
    this_os, this_arch = platform_tag().split("_", 1)
    labels: dict[str, str] = {}
    lines = []
    for line in manifest.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("- selector:"):
            labels = {}
        elif stripped.startswith(("os:", "arch:")):
            key, _, value = stripped.partition(":")
            labels[key] = value.strip()
        elif line.startswith("  version:"):
            line = f"  version: v{version}"
        elif stripped.startswith("uri:") and labels:
            name = f"kubectl-lws_v{version}_{labels.get('os')}_{labels.get('arch')}.tar.gz"
            line = re.sub(r"/download/[^/]+/[^/]+$", f"/download/v{version}/{name}", line)
        elif stripped.startswith("sha256:") and (labels.get("os"), labels.get("arch")) == (this_os, this_arch):
            line = line[: line.index("sha256:")] + f'sha256: "{digest}"'
        lines.append(line)
    manifest.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--manifest", default=str(ROOT / "krew" / "lws.yaml"))
    parser.add_argument("--no-manifest", action="store_true", help="do not write the sha256 into the manifest")
    args = parser.parse_args()
    archive, digest = build(Path(args.out))
    from kubectl_lws import __version__

    if not args.no_manifest:
        write_manifest(Path(args.manifest), __version__, digest)
    print(f"{archive}  sha256 {digest}")


if __name__ == "__main__":
    main()
