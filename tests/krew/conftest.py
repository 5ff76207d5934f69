"""One krew build a test session, shared by the tests of this folder (a PyInstaller build takes a minute).

Two builds run side by side: one of the working tree (installed and run by the tests) and one of a
copy of the same sources in another folder, for the same-inputs-same-sha256 check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("kubectl_lws", "krew", "LICENSE", "pyproject.toml")


@dataclass
class Build:
    archive: Path
    entry: dict[str, str]  # what build.py reports: os, arch, version, sha256, inputs
    manifest: Path  # a copy of krew/lws.yaml that build.py updated
    copy_entry: dict[str, str]  # the build of the copied sources


def _copy_sources(dest: Path) -> None:
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)


@pytest.fixture(scope="session")
def krew_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    work = tmp_path_factory.mktemp("krew-build")
    manifest = work / "lws.yaml"
    shutil.copy(ROOT / "krew" / "lws.yaml", manifest)
    copy = work / "elsewhere" / "src"
    copy.mkdir(parents=True)
    _copy_sources(copy)
    procs = [
        subprocess.Popen([sys.executable, str(ROOT / "krew" / "build.py"), "--out", str(work / "dist"),
                          "--manifest", str(manifest), "--entry", str(work / "entry.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([sys.executable, str(copy / "krew" / "build.py"), "--out", str(work / "dist2"),
                          "--no-manifest", "--entry", str(work / "entry2.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=1200)
        assert proc.returncode == 0, f"krew/build.py failed:\n{out}\n{err}"
    entry = json.loads((work / "entry.json").read_text())
    return Build(archive=Path(entry["archive"]), entry=entry, manifest=manifest,
                 copy_entry=json.loads((work / "entry2.json").read_text()))
