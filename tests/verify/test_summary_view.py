"""verify's default text: one row per check, then the failing groups only, within 120 columns, at any size."""

from __future__ import annotations

import json

from click.testing import CliRunner

import click

from kubectl_lws.render.runtime import render_runtime
from kubectl_lws.render.verify import check_rows, render_env, summary_view


def finding(group: int, check: str, status: str, message: str, **extra: str) -> dict:
    return {"group": group, "check": check, "status": status, "message": message, **extra}


def big_report(groups: int = 512) -> dict:
    out = []
    for i in range(groups):
        fs = [finding(i, "leader-address", "PASS", "4/4 ok"), finding(i, "group-size", "PASS", "4/4 ok")]
        if i in (7, 300):
            fs.append(finding(i, "tp-pp", "FAIL", "TP x PP = 8 GPUs but the group has 4 " + "x" * 200,
                              pod=f"vllm-{i}", template="leader", flag="--tensor-parallel-size",
                              expected="4 (1 per pod x 4 pods)", actual="8 x 1 = 8"))
        elif i % 100 == 5:
            fs.append(finding(i, "tp-pp", "WARN", "no GPUs requested", pod=f"vllm-{i}"))
        else:
            fs.append(finding(i, "tp-pp", "PASS", "4 GPUs = 1 per pod x 4 pods"))
        status = "FAIL" if i in (7, 300) else ("WARN" if i % 100 == 5 else "PASS")
        out.append({"index": i, "status": status, "findings": fs})
    return {"kind": "VerifyRuntimeReport", "lws": "vllm", "namespace": "ml", "notes": [], "groups": out,
            "summary": {"groups": groups, "failedGroups": 2, "pass": 3 * groups - 8, "warn": 6, "fail": 2,
                        "info": 0, "execs": 0, "seconds": 0.1}}


def printed(fn, *args, **kw) -> str:  # noqa: ANN001
    @click.command()
    def run() -> None:
        fn(*args, **kw)

    return CliRunner().invoke(run).output


def test_rows_count_groups_by_their_worst_status_per_check() -> None:
    rows = {r["check"]: r for r in check_rows(big_report())}
    assert (rows["leader-address"]["PASS"], rows["leader-address"]["FAIL"]) == (512, 0)
    tp = rows["tp-pp"]
    assert (tp["PASS"], tp["WARN"], tp["FAIL"], tp["failing"]) == (504, 6, 2, [7, 300])


def test_512_groups_read_at_a_glance_within_120_columns() -> None:
    report = big_report()
    text = printed(render_runtime, report, False, details=False)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert len(lines) < 30  # not thousands
    assert lines[0].split() == ["CHECK", "PASS", "WARN", "FAIL", "FAILING", "GROUPS", "/", "NOTE"]
    assert lines[3].split() == ["tp-pp", "504", "6", "2", "7,300"]
    assert [line for line in lines if line.startswith("GROUP ")] == ["GROUP 7  FAIL", "GROUP 300  FAIL"]
    assert "expected 4 (1 per pod x 4 pods); actual 8 x 1 = 8" in text
    assert "warnings only in group(s) 5,105,205,305,405,505" in text
    assert lines[-1].startswith("FAIL: verify runtime ml/vllm: 512 group(s), 2 failing")
    # --details: every group, as before
    full = printed(render_runtime, report, False, details=True)
    assert full.count("GROUP ") == 512
    assert json.dumps(report)  # the JSON document itself is never changed by the views


def test_repeated_text_is_said_once_and_hostile_text_is_shown() -> None:
    rep = {"kind": "VerifyEnvReport", "lws": "x", "namespace": "n", "groups": [
        {"index": 0, "status": "FAIL", "findings": [
            finding(0, "group-size", "FAIL", "LWS_GROUP_SIZE is 3, expected 4", pod="x-0\x1b[2J",
                    expected="4", actual="3")]}],
        "summary": {"groups": 1, "failedGroups": 1, "pass": 0, "warn": 0, "fail": 1, "execs": 0, "seconds": 0}}
    text = summary_view(rep, "verify env")
    assert "actual 3" not in text  # the message already says both values: no expected/actual line
    assert "\x1b" not in text and "x-0^[[2J" in text
    assert "\x1b" not in printed(render_env, rep, False)
