"""Renderers on golden dumps: JSON contract of issue 4, watch screen trimming, change lines."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from golden import golden_lws, golden_nodes
from kubectl_lws.model.groups import lws_view
from kubectl_lws.model.health import assess
from kubectl_lws.model.topology import placement
from kubectl_lws.render.status import change_lines, render_screen, render_status, status_doc

NOW = datetime(2026, 11, 22, 11, 0, 0, tzinfo=timezone.utc)
NODES = golden_nodes()


def build(name: str, pods_edit=None):
    lws, pods = golden_lws(name)
    if pods_edit:
        pods = pods_edit(copy.deepcopy(pods))
    view = lws_view(lws)
    a = assess(view, pods, nodes=NODES, now=NOW)
    return a, placement(view, [g.group for g in a.groups], NODES)


def new_leader_1(pods: list[dict]) -> list[dict]:
    """Group 1 re-created: its leader pod comes back under the same name with a new uid."""
    for p in pods:
        if p["metadata"]["name"] == "basic-1":
            p["metadata"]["uid"] = "new-uid"
    return pods


def test_json_document_has_the_issue_fields():
    a, place = build("excl-scaled-3-pending")
    doc = status_doc(a, place)
    for key in ("kind", "name", "namespace", "state", "reason", "generation", "observedGeneration", "replicas",
                "partition", "size", "restartPolicy", "images", "groups", "topology"):
        assert key in doc
    assert doc["kind"] == "LeaderWorkerSetStatus"
    assert set(doc["replicas"]) >= {"desired", "ready", "updated", "current"}
    g = doc["groups"][0]
    for key in ("index", "state", "reason", "ready", "size", "revision", "updated", "surge", "leader", "restarts",
                "domains", "pods"):
        assert key in g
    for key in ("name", "workerIndex", "subgroupIndex", "node", "ip", "phase", "ready", "restarts", "reason", "age"):
        assert key in g["pods"][0]
    assert set(doc["topology"]) == {"keys", "violations"}
    assert set(doc["topology"]["violations"][0]) == {"group", "subgroup", "key", "message"}
    assert doc["groups"][1]["domains"]["example.com/rack"] == ["rack-2"]
    only = status_doc(a, place, groups=[0])
    assert [g["index"] for g in only["groups"]] == [0] and only["topology"]["violations"] == []


def test_text_marks_canary_and_images():
    a, place = build("basic-canary-partition2")
    text = render_status(a, place)
    assert "Canary: 1/3 groups on 86cb664 (partition 2)" in text
    assert "pytorch:24.05-py3 (stable) -> nvcr.io/nvidia/pytorch:24.06-py3 (canary)" in text
    rows = [line.split() for line in text.splitlines() if line[:1].isdigit()]
    assert [r[2:4] for r in rows] == [["685db54", "stable"], ["685db54", "stable"], ["86cb664", "canary"]]


def test_surge_groups_marked():
    def add_surge(pods):
        extra = [copy.deepcopy(p) for p in pods if p["metadata"]["name"].startswith("basic-2")]
        for p in extra:
            p["metadata"]["name"] = p["metadata"]["name"].replace("basic-2", "basic-3")
            p["metadata"]["uid"] += "-s"
            p["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/group-index"] = "3"
        return pods + extra

    a, place = build("basic-canary-partition2", add_surge)
    text = render_status(a, place)
    assert any(line.startswith("3 (surge)") for line in text.splitlines())
    assert status_doc(a, place)["groups"][3]["surge"] is True


def test_screen_fits_the_terminal_and_keeps_problem_groups():
    a, place = build("excl-scaled-3-pending")
    screen = render_screen(a, place, height=12, width=80, now=NOW)
    lines = screen.splitlines()
    assert len(lines) <= 12 and all(len(line) <= 80 for line in lines)
    assert any(line.startswith("2 ") and "Pending" in line for line in lines)  # the bad group survives trimming
    assert "... 2 more groups" in screen


def test_screen_with_pods_shows_the_tree_and_still_fits():
    """--watch --pods on a TTY: the pod tree, trimmed by whole groups, the failing group kept."""
    a, place = build("excl-scaled-3-pending")
    screen = render_screen(a, place, height=18, width=200, pods=True, now=NOW)
    lines = screen.splitlines()
    assert len(lines) <= 18
    assert any(line.startswith("├─ ") or line.startswith("└─ ") for line in lines)
    assert any(line.startswith("group 2") and "Pending" in line for line in lines)
    assert "more groups" in screen and "more lines" not in screen


def test_change_lines_report_recreation_once():
    a1, _ = build("basic")
    a2, _ = build("basic", new_leader_1)
    lines = change_lines(a1, a2, NOW)
    assert len(lines) == 1 and "group 1" in lines[0] and "re-created" in lines[0]
    assert lines[0].startswith("2026-11-22T11:00:00Z")
    assert change_lines(a2, a2, NOW + timedelta(seconds=5)) == []


def test_change_lines_mark_recreation_across_a_leaderless_gap():
    """A real re-creation passes through states with no leader at all (old one gone, new one not yet
    listed): the watch's memory of leader uids must still mark the new leader as a re-creation."""
    a1, _ = build("basic")

    def drop_leader(pods):
        return [p for p in pods if p["metadata"]["name"] != "basic-1"]

    gap, _ = build("basic", drop_leader)
    a3, _ = build("basic", new_leader_1)
    leaders: dict[int, str] = {}
    change_lines(None, a1, NOW, leaders)
    gap_lines = change_lines(a1, gap, NOW, leaders)
    assert gap_lines and not any("re-created" in line for line in gap_lines)
    lines = [line for line in change_lines(gap, a3, NOW, leaders) if "group 1" in line]
    assert len(lines) == 1 and "re-created: new leader pod" in lines[0]
    assert not any("re-created" in line for line in change_lines(a3, a3, NOW, leaders))
