#!/usr/bin/env python3
"""Refresh tests/data/{golden,lws} from ../shared, or (--check) say where they differ.

The tests and benchmarks read only these copies, so a clone alone runs them; ../shared (beside the
checkout, or SHARED_DIR) is where the recordings and the upstream files are published.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent
MIRRORED = ("golden", "lws")  # folders of ../shared copied whole


def shared_dir() -> Path | None:
    """``$SHARED_DIR``, else ``shared`` beside the checkout or beside a worktrees' folder."""
    if os.environ.get("SHARED_DIR"):
        return Path(os.environ["SHARED_DIR"])
    repo = DATA.parents[1]
    for base in (repo.parent, repo.parent.parent):
        if (base / "shared" / "golden").is_dir():
            return base / "shared"
    return None


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def differences(shared: Path) -> list[str]:
    """One line per file that is missing, extra or changed in tests/data."""
    out: list[str] = []
    for folder in MIRRORED:
        theirs, ours = _files(shared / folder), _files(DATA / folder)
        out += [f"missing: {folder}/{f}" for f in sorted(theirs - ours)]
        out += [f"not in ../shared: {folder}/{f}" for f in sorted(ours - theirs)]
        out += [f"differs: {folder}/{f}" for f in sorted(theirs & ours)
                if not filecmp.cmp(shared / folder / f, DATA / folder / f, shallow=False)]
    return out


def sync(shared: Path) -> None:
    for folder in MIRRORED:
        target = DATA / folder
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(shared / folder, target, copy_function=shutil.copyfile)
        for path in target.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list the differences (exit 1 if any)")
    args = parser.parse_args()
    shared = shared_dir()
    if shared is None:
        print("no ../shared beside the checkout (set SHARED_DIR)", file=sys.stderr)
        return 2
    if args.check:
        diffs = differences(shared)
        print("\n".join(diffs) or "tests/data is in step with " + str(shared))
        return 1 if diffs else 0
    sync(shared)
    print(f"copied {', '.join(MIRRORED)} from {shared}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
