"""Slim records and paged LISTs (issue #14).

* The slim model gives the same ``status -o json`` as the full objects on every golden dump, with
  both decoders (msgspec typed, json.loads + filter).
* A LIST of more than one page follows the continue token; a token that expired mid-way (410,
  an etcd compaction) restarts the LIST, and the answer is still whole.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cliutil import run_cli
from golden import GOLDEN, golden_nodes
from kubectl_lws.model import slim
from kubectl_lws.model.groups import lws_view
from kubectl_lws.model.health import assess, nodes_by_name
from kubectl_lws.model.timeutil import parse_time
from kubectl_lws.model.topology import placement
from kubectl_lws.render.status import status_doc


def _dumps() -> list[tuple[str, dict, list[dict]]]:
    out = []
    for lws_file in sorted(GOLDEN.glob("objects/*/leaderworkerset.json")):
        pods = json.loads((lws_file.parent / "pods.json").read_text())["items"]
        out.append((lws_file.parent.name, json.loads(lws_file.read_text()), pods))
    ev = GOLDEN / "events"
    if (ev / "lws-ev.json").exists():
        pods = json.loads((ev / "pods-ev.json").read_text())["items"]
        for obj in json.loads((ev / "lws-ev.json").read_text())["items"]:
            out.append((f"events/{obj['metadata']['name']}", obj, pods))
    return out


DUMPS = _dumps()


def _doc(lws: dict, pods: list[dict], nodes: list[dict], now) -> dict:
    view = lws_view(lws)
    mine = [p for p in pods if (p["metadata"].get("labels") or {}).get("leaderworkerset.sigs.k8s.io/name")
            == view.name]
    node_map = nodes_by_name(nodes)
    a = assess(view, mine, nodes=node_map, now=now)
    place = placement(view, [g.group for g in a.groups if g.group is not None], node_map,
                      ["topology.kubernetes.io/zone"])
    return status_doc(a, place)


def _as_list(items: list[dict]) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"},
                       "items": items}).encode()


def test_every_golden_dump_is_covered() -> None:
    assert len(DUMPS) >= 8, [d[0] for d in DUMPS]


@pytest.mark.parametrize("use_msgspec", [True, False], ids=["msgspec", "json"])
@pytest.mark.parametrize("name,lws,pods", DUMPS, ids=[d[0] for d in DUMPS])
def test_slim_records_give_the_same_status_json(name: str, lws: dict, pods: list[dict], use_msgspec: bool) -> None:
    if use_msgspec:
        pytest.importorskip("msgspec")
    nodes = golden_nodes()
    now = parse_time(lws["metadata"]["creationTimestamp"])
    full = _doc(lws, pods, nodes, now)
    slim_pods = slim.decode_list("pods", _as_list(pods), use_msgspec=use_msgspec)["items"]
    slim_nodes = slim.decode_list("nodes", _as_list(nodes), use_msgspec=use_msgspec)["items"]
    assert len(json.dumps(slim_pods)) < len(json.dumps(pods)) * 0.6  # really slimmer (managedFields, spec)
    assert _doc(lws, slim_pods, slim_nodes, now) == full


def test_both_decoders_build_the_same_records() -> None:
    pytest.importorskip("msgspec")
    pod = json.loads((GOLDEN / "objects" / "pod-big-17-3-real-4096-pod-lws.json").read_text())
    body = _as_list([pod, pod])
    a = slim.decode_list("pods", body, use_msgspec=True)
    b = slim.decode_list("pods", body, use_msgspec=False)
    assert a == b
    assert "managedFields" not in a["items"][0]["metadata"]
    assert set(a["items"][0]["spec"]) <= {"nodeName", "containers", "initContainers", "restartPolicy",
                                           "schedulerName", "schedulingGates", "nodeSelector", "schedulingGroup",
                                           "workloadRef"}


# ---- paging on the sandbox --------------------------------------------------------------------------

P = "leaderworkerset.sigs.k8s.io/"
GROUPS, SIZE = 140, 8  # 1,120 pods: three pages of 500


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import benchlib  # noqa: PLC0415 — the bench's real-size objects

    from conftest import start_sandbox

    sb = start_sandbox(plugins=())
    try:
        benchlib.populate(sb, "paged", "wide", GROUPS, SIZE, nodes=8)
        kc = sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig", namespace="paged")
        yield sb, kc
    finally:
        sb.stop()


def _pod_lists(sb) -> list[str]:
    return [q for m, p, q, *_ in list(sb.request_log.entries) if m == "GET" and p.endswith("/pods")]


def test_status_follows_continue_tokens(paged) -> None:
    sb, kc = paged
    sb.request_log.clear()
    res = run_cli(["status", "wide", "-o", "json", "--no-placement"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert len(doc["groups"]) == GROUPS and all(g["ready"] for g in doc["groups"])
    pages = _pod_lists(sb)
    assert len(pages) == 3, pages
    assert "limit=500" in str(pages[0]) and "continue" in str(pages[1]) and "continue" in str(pages[2])


def test_an_expired_continue_token_restarts_the_list(paged) -> None:
    sb, kc = paged
    pods_path = "/api/v1/namespaces/paged/pods"
    sb.request_log.clear()
    # The first page is answered late; meanwhile a write and a compaction expire its token.
    sb.fault("delay-responses", path=pods_path, seconds=1.0, count=1)
    result: dict = {}

    def run() -> None:
        result["res"] = run_cli(["status", "wide", "-o", "json", "--no-placement"], kubeconfig=kc)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.4)
    sb.ensure_namespace(f"bump-{time.monotonic_ns()}")  # a write after the token's revision
    sb.fault("compact")
    t.join(30)
    res = result["res"]
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert len(doc["groups"]) == GROUPS and all(g["ready"] for g in doc["groups"])
    statuses = [s for m, p, q, s, *_ in list(sb.request_log.entries) if m == "GET" and p == pods_path]
    # page 1, page 2 -> 410, then a fresh LIST of three pages
    assert statuses == [200, 410, 200, 200, 200], statuses


def test_verify_records_keep_spec_and_status_and_give_the_same_findings() -> None:
    """``pods:spec`` (what verify reads) drops managedFields only: the runtime and env checks find the
    same on those records as on whole pods, through both decoders."""
    from dataclasses import asdict

    from kubectl_lws.model import envcheck, runtimecheck
    from kubectl_lws.model.groups import group_pods, lws_view
    from runtime_fixtures import build_pods, sample

    lws, svcs = sample("vllm/GPU/lws.yaml")
    pods = build_pods(lws)
    real = json.loads((GOLDEN / "objects" / "pod-big-17-3-real-4096-pod-lws.json").read_text())
    for p in pods:  # a real pod's weight: its managedFields
        p["metadata"]["managedFields"] = real["metadata"]["managedFields"]
    view = lws_view(lws)

    def findings(items: list[dict]) -> list:
        groups = group_pods(items, view.replicas)
        return [[asdict(f) for f in runtimecheck.check_group_static(view, g, svcs)] +
                [asdict(f) for f in envcheck.check_group(view, g)] for g in groups]

    full = findings(pods)
    for use_msgspec in (True, False):
        records = slim.decode_list("pods:spec", _as_list(pods), use_msgspec=use_msgspec)["items"]
        assert all("managedFields" not in r["metadata"] and r["spec"] == p["spec"] and r["status"] == p["status"]
                   for r, p in zip(records, pods))
        assert len(json.dumps(records)) < len(json.dumps(pods)) * 0.8
        assert findings(records) == full
