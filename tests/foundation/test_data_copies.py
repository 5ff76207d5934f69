"""tests/data holds copies of ../shared (so a clone alone runs the suite); they must not drift."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SYNC = Path(__file__).resolve().parents[1] / "data" / "sync.py"
spec = importlib.util.spec_from_file_location("data_sync", SYNC)
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)


def test_copies_equal_shared_where_shared_is_present():
    shared = sync.shared_dir()
    if shared is None:
        pytest.skip("no ../shared beside this checkout: nothing to compare the copies with")
    diffs = sync.differences(shared)
    assert not diffs, "tests/data differs from ../shared (run `python tests/data/sync.py`):\n" + "\n".join(diffs[:20])


def test_differences_names_a_changed_a_missing_and_an_extra_file(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    data = tmp_path / "data"
    for root in (shared, data):
        for folder in sync.MIRRORED:
            (root / folder).mkdir(parents=True)
    (shared / "golden" / "same.json").write_text("{}")
    (data / "golden" / "same.json").write_text("{}")
    (shared / "golden" / "changed.json").write_text("[1]")
    (data / "golden" / "changed.json").write_text("[2]")
    (shared / "lws" / "new.yaml").write_text("a: 1")
    (data / "lws" / "old.yaml").write_text("a: 1")
    monkeypatch.setattr(sync, "DATA", data)
    assert sync.differences(shared) == ["differs: golden/changed.json", "missing: lws/new.yaml",
                                        "not in ../shared: lws/old.yaml"]


def test_no_test_or_benchmark_reads_shared_directly():
    repo = SYNC.parents[2]
    offenders = [str(p.relative_to(repo)) for folder in ("tests", "bench") for p in (repo / folder).rglob("*")
                 if p.is_file() and p.suffix in ("", ".py") and "data" not in p.relative_to(repo).parts
                 and p.resolve() != Path(__file__).resolve()
                 and "/work/shared" in p.read_text(errors="replace")]
    assert offenders == []
