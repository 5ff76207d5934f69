#!/usr/bin/env python3
"""Build this platform's krew archive, reproducibly, and write its entry into krew/lws.yaml.

    python krew/build.py [--out DIR] [--manifest FILE | --no-manifest] [--entry FILE]
    python krew/build.py --merge ENTRY.json... [--manifest FILE]     (release: collect all platforms)

The archive is self-contained: PyInstaller in one-folder mode freezes kubectl_lws, every runtime
dependency (the sandbox's aiohttp included) and the Python runtime itself, so a krew user needs no
Python. One folder (not one file) because a one-file program unpacks itself to a temporary folder
on every run, which costs start-up time. Layout of the archive:

    kubectl-lws             the program (krew links it as the plugin)
    kubectl_complete-lws    the same program under the name kubectl runs for plugin completion
    _internal/              the frozen runtime
    LICENSE

Same inputs, same sha256: the inputs are the source files (kubectl_lws/, LICENSE, krew/'s build
files), the Python that runs this script, and the versions of the packages frozen in. Everything
else is normalised: PyInstaller runs with a fixed hash seed and SOURCE_DATE_EPOCH, and the tar is
written in sorted order with fixed mtimes, owners and modes, gzip without name or time. A digest
of the inputs is written next to the sha256 in the manifest (``# inputs ...``), so a test can tell
whether the committed sha256 is the one this tree and environment produce.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCH = 1577836800  # 2020-01-01T00:00:00Z: every timestamp in the archive
SOURCE_FILES = ("LICENSE", "krew/build.py", "krew/entry.py", "krew/kubectl-lws.spec")
RELEASE_URL = "https://github.com/kubectl-lws/kubectl-lws/releases/download"
BUILD_TOOLS = ("pyinstaller", "pyinstaller-hooks-contrib")


def platform_tag() -> tuple[str, str]:
    """krew's (os, arch) for this machine."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return ("darwin" if sys.platform == "darwin" else sys.platform.rstrip("0123456789")), arch


def version(root: Path = ROOT) -> str:
    text = (root / "kubectl_lws" / "__init__.py").read_text()
    found = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not found:
        raise SystemExit("error: no __version__ in kubectl_lws/__init__.py")
    return found.group(1)


def archive_name(ver: str, os_: str, arch: str) -> str:
    return f"kubectl-lws_v{ver}_{os_}_{arch}.tar.gz"


# ---- inputs -------------------------------------------------------------------------------------

def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_requirements(root: Path) -> list[str]:
    """The project's dependencies and its sandbox extra, from pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project.get("optional-dependencies", {}).get("sandbox", [])]


def frozen_distributions(root: Path = ROOT) -> list[str]:
    """``name==version`` of every installed package the build can freeze in, and of the build tools."""
    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = [Requirement(r).name for r in _runtime_requirements(root)] + list(BUILD_TOOLS)
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(f"{n}=={v}" for n, v in seen.items())


def source_files(root: Path = ROOT) -> list[Path]:
    files = [p for p in (root / "kubectl_lws").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")]
    files += [root / f for f in SOURCE_FILES]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def inputs_digest(root: Path = ROOT) -> str:
    """What the archive is made of: sources, interpreter, frozen package versions, platform."""
    h = hashlib.sha256()
    for path in source_files(root):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for item in (sys.version, sys.base_prefix, "_".join(platform_tag()), *frozen_distributions(root)):
        h.update(item.encode() + b"\0")
    return h.hexdigest()


# ---- build --------------------------------------------------------------------------------------

def freeze(root: Path, work: Path) -> Path:
    """Run PyInstaller on krew/kubectl-lws.spec; return the one-folder program."""
    env = {**os.environ, "KUBECTL_LWS_SRC": str(root), "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": str(EPOCH),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"),
         str(root / "krew" / "kubectl-lws.spec")],
        cwd=work, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"error: PyInstaller failed (exit {result.returncode})")
    folder = work / "dist" / "kubectl-lws"
    shutil.copy2(folder / "kubectl-lws", folder / "kubectl_complete-lws")
    return folder


def _tarinfo(name: str, *, size: int = 0, directory: bool = False, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory or executable else 0o644
    info.size = size
    info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "", ""
    return info


def write_archive(folder: Path, license_file: Path, archive: Path) -> None:
    """A tar.gz krew can unpack: regular files and folders only (krew refuses links), sorted,
    with fixed metadata, so equal contents give equal bytes."""
    entries: list[tuple[str, Path | None]] = [("LICENSE", license_file)]
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        entries.append((rel, None if path.is_dir() else path))  # is_dir/read follow links: no links inside
    archive.parent.mkdir(parents=True, exist_ok=True)
    with open(archive, "wb") as raw, \
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, path in sorted(entries):
            if path is None:
                tar.addfile(_tarinfo(name, directory=True))
                continue
            data = path.read_bytes()
            tar.addfile(_tarinfo(name, size=len(data), executable=os.access(path, os.X_OK)), io.BytesIO(data))


def build(out: Path, root: Path = ROOT) -> dict[str, str]:
    """Build this platform's archive into ``out``; return its manifest entry (as data)."""
    os_, arch = platform_tag()
    ver = version(root)
    archive = out / archive_name(ver, os_, arch)
    with tempfile.TemporaryDirectory(prefix="kubectl-lws-build-") as tmp:
        folder = freeze(root, Path(tmp))
        write_archive(folder, root / "LICENSE", archive)
    return {"os": os_, "arch": arch, "version": ver, "archive": str(archive),
            "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(), "inputs": inputs_digest(root)}


# ---- manifest -----------------------------------------------------------------------------------

FILES = ("kubectl-lws", "kubectl_complete-lws", "_internal", "LICENSE")
_SHA_LINE = re.compile(r'^\s*sha256:\s*"?(?P<sha>[0-9a-fA-F]*)"?\s*(?:#\s*inputs\s+(?P<inputs>[0-9a-f]+))?')


def read_entries(manifest: Path) -> list[dict[str, str]]:
    """The platform entries of a manifest, with the ``# inputs`` digest written beside each sha256."""
    import yaml

    doc = yaml.safe_load(manifest.read_text())
    inputs = [m.group("inputs") or "" for m in map(_SHA_LINE.match, manifest.read_text().splitlines()) if m]
    entries = []
    for index, platform_ in enumerate(doc["spec"].get("platforms") or []):
        labels = platform_["selector"]["matchLabels"]
        uri = platform_["uri"]
        found = re.search(r"_v([^_/]+)_[^_/]+_[^_/]+\.tar\.gz$", uri)
        entries.append({"os": labels["os"], "arch": labels["arch"], "sha256": platform_["sha256"],
                        "version": found.group(1) if found else "",
                        "inputs": inputs[index] if index < len(inputs) else ""})
    return entries


def render_platform(entry: dict[str, str]) -> str:
    ver, os_, arch = entry["version"], entry["os"], entry["arch"]
    files = "".join(f"    - from: {name}\n      to: .\n" for name in FILES)
    inputs = f"  # inputs {entry['inputs']}" if entry.get("inputs") else ""
    return (f"  - selector:\n      matchLabels:\n        os: {os_}\n        arch: {arch}\n"
            f"    uri: {RELEASE_URL}/v{ver}/{archive_name(ver, os_, arch)}\n"
            f'    sha256: "{entry["sha256"]}"{inputs}\n'
            f"    files:\n{files}    bin: kubectl-lws\n")


def write_manifest(manifest: Path, new: list[dict[str, str]], ver: str) -> None:
    """Set spec.version, replace or add the given platforms' entries, keep the others of the same
    version (an entry of another version describes an archive that is not this release's), and
    keep the hand-written head of the file as it is."""
    text = manifest.read_text()
    head, sep, _ = text.partition("\n  platforms:\n")
    if not sep:
        raise SystemExit(f"error: {manifest} has no spec.platforms list")
    head = re.sub(r"(?m)^  version: .*$", f"  version: v{ver}", head)
    keep = {(e["os"], e["arch"]): e for e in read_entries(manifest) if e["version"] == ver}
    for entry in new:
        keep[(entry["os"], entry["arch"])] = entry
    body = "".join(render_platform(keep[key]) for key in sorted(keep))
    manifest.write_text(head + sep + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--manifest", default=str(ROOT / "krew" / "lws.yaml"), help="manifest to update")
    parser.add_argument("--no-manifest", action="store_true", help="do not touch the manifest")
    parser.add_argument("--entry", help="also write this platform's entry as JSON to this file (release jobs)")
    parser.add_argument("--merge", nargs="+", metavar="ENTRY", help="no build: add these entries to the manifest")
    parser.add_argument("--print-inputs", action="store_true", help="print the inputs digest and exit")
    args = parser.parse_args()
    if args.print_inputs:
        print(inputs_digest())
        return
    if args.merge:
        entries = [json.loads(Path(p).read_text()) for p in args.merge]
        versions = {e["version"] for e in entries}
        if versions != {version()}:
            raise SystemExit(f"error: entries are for {sorted(versions)}, the tree is v{version()}")
        write_manifest(Path(args.manifest), entries, version())
        return
    entry = build(Path(args.out))
    if args.entry:
        Path(args.entry).write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
    if not args.no_manifest:
        write_manifest(Path(args.manifest), [entry], entry["version"])
    print(f"{entry['archive']}  sha256 {entry['sha256']}")


if __name__ == "__main__":
    main()
