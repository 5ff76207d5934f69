"""One verdict (issue 22 part 1), end to end: every view gives an LWS the same state and reason.

``list -A -o json`` and ``status -o json`` of every LWS of every built-in scenario, at several
moments: while the scenario starts, settled, after a change, and an hour later (when ``list``
judges settled LWS from their status alone and ``status`` still reads their pods). The two commands
run one after the other against a live sandbox, so the cluster may move between them: ages are
masked, and a pair that differs is read again (a real disagreement is there every time).
``status -w -o json`` and the support bundle's ``status.json`` are held to the same verdict.
"""

from __future__ import annotations

import json
import re
import tarfile
import time
from pathlib import Path

import pytest

from cliutil import run_cli
from conftest import scenario_sandbox

SCENARIOS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "kubectl_lws" / "sandbox" / "scenarios")
                   .glob("*.yaml"))
TICKING = re.compile(r"\b\d+(?:s|m|h|d)\b")  # "for 12s", "3m ago": the clock moves between two runs
ROUNDS = 6


def _json(kc: str, *args: str) -> dict:
    r = run_cli([*args, "-o", "json"], kubeconfig=kc)
    assert r.exit_code in (0, 3), (args, r.stderr)
    return json.loads(r.stdout)


def _key(doc: dict) -> tuple[str, str]:
    return doc["state"], TICKING.sub("_", doc["reason"])


def _differences(kc: str, only: set[tuple[str, str]] | None = None) -> dict[tuple[str, str], str]:
    listed = {(i["namespace"], ("ds/" if i["kind"] == "DisaggregatedSetSummary" else "") + i["name"]): i
              for i in _json(kc, "list", "-A")["items"]}
    out = {}
    for (ns, name), item in listed.items():
        if only is not None and (ns, name) not in only:
            continue
        # a DisaggregatedSet's row (issue 21) against `status ds/NAME`, an LWS's against `status NAME`
        doc = _json(kc, "status", f"ds/{name[3:]}" if name.startswith("ds/") else name, "-n", ns)
        if _key(doc) != _key(item):
            out[(ns, name)] = f"status {doc['state']}: {doc['reason']} | list {item['state']}: {item['reason']}"
    return out


def agree(kc: str, moment: str) -> int:
    """Every LWS: list and status agree (a differing pair is read again, up to ROUNDS times)."""
    count = len(_json(kc, "list", "-A")["items"])
    assert count, moment
    diff = _differences(kc)
    for _ in range(ROUNDS):
        if not diff:
            return count
        time.sleep(0.3)
        diff = _differences(kc, set(diff))
    assert not diff, f"{moment}: {diff}"
    return count


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_list_and_status_agree_on_every_lws(scenario: str, tmp_path: Path) -> None:
    with scenario_sandbox(scenario) as sb:  # loaded and settled
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="default")
        agree(kc, f"{scenario}: settled")
        spaces = sorted({i["namespace"] for i in _json(kc, "list", "-A")["items"]})
        # a change: a worker of the first LWS fails (its group is re-created or restarts it)
        first = next(i for i in _json(kc, "list", "-A")["items"] if i["kind"] == "LeaderWorkerSetSummary")
        sb.fault("crash", pod=f"{first['namespace']}/{first['name']}-0-1" if first["size"] > 1
                 else f"{first['namespace']}/{first['name']}-0")
        time.sleep(0.2)
        agree(kc, f"{scenario}: a worker just crashed")
        sb.wait_settled(60)
        agree(kc, f"{scenario}: settled again")
        # an hour later: LWS whose status says settled are judged from it by list, from pods by status
        for ns in spaces:
            sb.fault("age", namespace=ns, seconds=3600)
        time.sleep(0.5)  # the controllers see the aged objects
        agree(kc, f"{scenario}: an hour later")
        sources = {i["source"] for i in _json(kc, "list", "-A")["items"] if "source" in i}
        if scenario != "crashloop":  # its LWS re-create groups for ever: never settled, always read from pods
            assert "lws-status" in sources, sources


def test_list_and_status_agree_while_a_scenario_starts(tmp_path: Path) -> None:
    from conftest import start_sandbox

    sb = start_sandbox(speed=5)
    try:
        sb.load_scenario("demo")
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")
        for _ in range(3):  # groups being created, scheduled, started
            agree(kc, "demo: starting")
    finally:
        sb.stop()


def test_watch_and_report_give_the_verdict_status_gives(tmp_path: Path) -> None:
    with scenario_sandbox("demo") as sb:
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")

        def same(read) -> None:  # noqa: ANN001
            for _ in range(ROUNDS):
                a, b = _json(kc, "status", "crashy"), read()
                ga, gb = a["groups"][1], b["groups"][1]
                if (_key(a), ga["state"], (ga["cause"] or {}).get("reason")) == \
                        (_key(b), gb["state"], (gb["cause"] or {}).get("reason")):
                    assert ga["cause"]["layer"] == gb["cause"]["layer"]
                    return
                time.sleep(0.3)
            raise AssertionError(f"status {a['state']}: {a['reason']} | other {b['state']}: {b['reason']}")

        def watched() -> dict:
            r = run_cli(["status", "crashy", "-w", "--timeout", "1s", "-o", "json"], kubeconfig=kc)
            assert r.exit_code == 0, r.stderr
            return json.loads(r.stdout.splitlines()[0])

        def reported() -> dict:
            out = tmp_path / f"r{time.monotonic_ns()}.tar.gz"
            r = run_cli(["report", "crashy", "--output", str(out), "--logs", "none"], kubeconfig=kc)
            assert r.exit_code == 0, r.stderr
            with tarfile.open(out) as t:
                member = next(m for m in t.getmembers() if m.name.endswith("/status.json"))
                return json.loads(t.extractfile(member).read())

        same(watched)  # the watch reads events too: CrashLoopBackOff with its exit code, not a bare count
        same(reported)
