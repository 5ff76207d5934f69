"""``kubectl lws map`` end to end: the demo sandbox over real HTTP, on a pty at 80 and 200 columns, and the
golden objects with a Kueue Topology served as recorded."""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cliutil import requests_made, run_cli, run_on_pty
from conftest import scenario_sandbox
from golden import GOLDEN

DEMO_NODES = [f"gpu-{r}{i}" for r in "abcd" for i in (1, 2)]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def demo():
    with scenario_sandbox("demo") as sb:
        yield sb


@pytest.fixture
def kc(demo, tmp_path: Path) -> str:
    return demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")


def test_map_all_namespaces_draws_every_node_group_and_cause(kc) -> None:
    res = run_cli(["map", "-A"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert all(n in out for n in DEMO_NODES)
    assert "levels: zone > nodepool > rack (from node labels" in out
    legend = [line for line in out.splitlines() if re.match(r"^[A-Za-z]\s+\S+/\S+\s+\d", line)]
    # healthy 3 + crashy 2 + canary 3 + solo 2 + pinned 3 + stuck 2 + the 14 groups of pd's DisaggregatedSets
    assert len(legend) == 29
    assert all(re.search(r"\s\d+/\d+\s+\d+\s", line) for line in legend)  # PODS and GPUS whole at 80 columns
    assert re.search(r"^  \w default/pinned group 2: Pending: .*unschedulable", out, re.M)
    assert re.search(r"^  \w team-b/stuck group 1: .*exceeded quota", out, re.M)  # the cause from events
    doc = json.loads(run_cli(["map", "-A", "-o", "json"], kubeconfig=kc).stdout)
    assert {n["name"] for n in doc["nodes"]} == set(DEMO_NODES) and len(doc["groups"]) == 29
    assert doc["totals"]["gpus"] == 64 and doc["totals"]["lws"] == 33  # healthy 12 + stuck 3 + pd 18
    unplaced = {(re.sub(r"-[0-9a-f]{8}-", "-REV-", u["lws"]), u["group"]) for u in doc["unplaced"]}
    assert unplaced == {("pinned", 2), ("stuck", 1), ("pd-stalled-0-REV-decode", 0)}  # the stalled revision


def test_map_of_one_lws_keeps_its_request_budget(demo, kc) -> None:
    res, reqs = requests_made(demo, lambda: run_cli(["map", "healthy", "-o", "json"], kubeconfig=kc))
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [g["label"] for g in doc["groups"]] == ["A", "B", "C"]
    assert doc["totals"]["lws"] == 12 and doc["totals"]["other"] == 21  # stuck's 3 and pd's 18 are "other" here
    events = "/api/v1/namespaces/demo/events"
    paths = sorted(p for _, p, _ in reqs if p != events)
    assert paths == ["/api/v1/nodes", "/api/v1/pods", "/apis/kueue.x-k8s.io",
                     "/apis/leaderworkerset.x-k8s.io/v1/namespaces/demo/leaderworkersets/healthy"]
    # events exactly when status reads them (the one verdict's rule), one LIST at most
    _, by_status = requests_made(demo, lambda: run_cli(["status", "healthy"], kubeconfig=kc))
    assert [p for _, p, _ in reqs].count(events) == [p for _, p, _ in by_status].count(events) <= 1
    _, reqs = requests_made(demo, lambda: run_cli(["map", "-A", "--topology-key", "example.com/rack"],
                                                   kubeconfig=kc))
    # LWS, pods, nodes, and one events LIST per namespace whose LWS need them; no Kueue lookup with the flag
    paths = sorted(p for _, p, _ in reqs)
    assert [p for p in paths if "/events" not in p] == ["/api/v1/nodes", "/api/v1/pods",
                                                        "/apis/leaderworkerset.x-k8s.io/v1/leaderworkersets"]
    assert 1 <= len([p for p in paths if "/events" in p]) <= 4  # demo, default, team-b, pd


def test_exports_are_self_contained(kc) -> None:
    svg = run_cli(["map", "-A", "-o", "svg"], kubeconfig=kc).stdout
    root = ET.fromstring(svg.split("\n", 1)[1])
    assert root.tag.endswith("svg") and all(f'data-node="{n}"' in svg for n in DEMO_NODES)
    page = run_cli(["map", "-A", "-o", "html"], kubeconfig=kc).stdout
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from anywhere


def test_bad_input_is_refused_before_any_request(demo, kc) -> None:
    for args, word in ((["map", "healthy", "-A"], "cannot be combined"),
                       (["map", "--topology-key", "bad key!"], "invalid --topology-key"),
                       (["map", "-o", "png"], "invalid value for '-o'")):
        res, reqs = requests_made(demo, lambda a=args: run_cli(a, kubeconfig=kc))
        assert res.exit_code == 2 and word.replace("'", "") in res.stderr.replace("'", ""), res.stderr
        assert reqs == []
    res = run_cli(["map", "nope"], kubeconfig=kc)
    assert res.exit_code == 1 and 'leaderworkerset "nope" not found' in res.stderr.lower()


@pytest.mark.parametrize("columns", [80, 200])
def test_tty_map_fits_the_terminal_with_and_without_colour(kc, columns: int) -> None:
    import os

    base = {**os.environ, "KUBECONFIG": kc, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    base.pop("NO_COLOR", None)
    code, screen = run_on_pty(["map", "-A"], env=base)
    assert code == 0, screen
    assert "\x1b[" in screen and "╭" in screen  # colour and box characters on a colour terminal
    plain = ANSI.sub("", screen).replace("\r", "")
    assert max(len(line) for line in plain.splitlines()) <= columns
    assert all(n in plain for n in DEMO_NODES)
    code, nocolour = run_on_pty(["map", "-A"], env={**base, "NO_COLOR": "1"})
    assert code == 0 and "\x1b[" not in nocolour
    # the same boxes and letters, only the colour is gone (the legend's states may move between runs)
    assert ANSI.sub("", nocolour).replace("\r", "").split("   LWS")[0] == plain.split("   LWS")[0]
    code, dumb = run_on_pty(["map", "-A"], env={**base, "TERM": "dumb"})
    assert code == 0 and "\x1b[" not in dumb and "╭" not in dumb and "+-" in dumb  # ASCII boxes


class _Golden(BaseHTTPRequestHandler):
    """An API server that answers with the golden recordings (LWS, pods, nodes) and Kueue's Topology."""

    routes: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 — http.server's name
        body = self.routes.get(self.path.split("?", 1)[0])
        self.send_response(200 if body is not None else 404)
        if body is None:
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                               "code": 404, "message": "the server could not find the requested resource"}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_levels_come_from_a_served_kueue_topology(tmp_path: Path) -> None:
    read = lambda rel: (GOLDEN / rel).read_bytes()  # noqa: E731
    pods = json.loads(read("objects/excl/pods.json"))
    pods["items"] += json.loads(read("objects/basic/pods.json"))["items"]
    _Golden.routes = {
        "/apis/leaderworkerset.x-k8s.io/v1/namespaces/golden/leaderworkersets": read(
            "objects/leaderworkersets-list.json"),
        "/api/v1/pods": json.dumps(pods).encode(),
        "/api/v1/nodes": read("objects/nodes.json"),
        "/apis/kueue.x-k8s.io": json.dumps({"kind": "APIGroup", "apiVersion": "v1", "name": "kueue.x-k8s.io",
                                            "versions": [{"groupVersion": "kueue.x-k8s.io/v1beta2",
                                                          "version": "v1beta2"}]}).encode(),
        "/apis/kueue.x-k8s.io/v1beta2/topologies": read("kueue/objects/g3-tas/topologies.json"),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Golden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kc = tmp_path / "empty.yaml"
    kc.write_text("apiVersion: v1\nkind: Config\n")
    try:
        res = run_cli(["map", "-n", "golden", "-o", "json", "-s", f"http://127.0.0.1:{server.server_port}"],
                      kubeconfig=str(kc))
    finally:
        server.shutdown()
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["levels"], doc["levelsFrom"]) == (["example.com/rack"], "kueue")
    assert [d["values"] for d in doc["domains"]] == [["rack-1"], ["rack-2"], ["rack-3"], [None]]
    excl = {g["group"]: g["nodes"] for g in doc["groups"] if g["lws"] == "excl"}
    assert excl == {0: ["gpu-a1", "gpu-a2"], 1: ["gpu-b1", "gpu-b2"]}


FOR_SECONDS = re.compile(r" \(for \d+[smhd]\)$")


def test_map_and_status_give_every_group_the_same_verdict_with_admission_layers(tmp_path: Path) -> None:
    """Kueue, Volcano, scheduling gates and claims explain groups in status (the layers): the map's groups
    say the same state and cause, whatever layer holds them."""
    with scenario_sandbox("queues") as sb:
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="queues")
        doc = json.loads(run_cli(["map", "-A", "-o", "json"], kubeconfig=kc).stdout)
        seen = {}
        for ns, name in sorted({(g["namespace"], g["lws"]) for g in doc["groups"]}):
            status = json.loads(run_cli(["status", name, "-n", ns, "-o", "json"], kubeconfig=kc).stdout)
            for g in status["groups"]:
                seen[(ns, name, g["index"])] = (g["state"], FOR_SECONDS.sub("", g["reason"]))
        drawn = {(g["namespace"], g["lws"], g["group"]): (g["state"], FOR_SECONDS.sub("", g["reason"]))
                 for g in doc["groups"]}
    assert drawn == seen
    assert drawn[("gangs", "gang", 0)][1].startswith("Volcano: ")  # the gang scheduler's word, as status says


def test_map_of_a_disaggregated_set_draws_its_child_lws(demo, tmp_path: Path) -> None:
    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="pd")
    res, reqs = requests_made(demo, lambda: run_cli(["map", "ds/pd-stalled", "-o", "json"], kubeconfig=kc))
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    children = {g["lws"] for g in doc["groups"]}
    assert children and all(c.startswith("pd-stalled-0-") for c in children)
    assert {r for r in children if r.endswith("-decode")} and {r for r in children if r.endswith("-prefill")}
    assert any(u["lws"].endswith("-decode") for u in doc["unplaced"])  # the stalled revision's decode
    # each child names its set, role, slice and revision (its owner, as status and list give it)
    owners = {g["lws"]: g["owner"] for g in doc["groups"]}
    assert owners == {r["name"]: r["owner"] for r in doc["leaderWorkerSets"] if r["name"] in owners}
    assert all(o["kind"] == "DisaggregatedSet" and o["name"] == "pd-stalled"
               and name == f"pd-stalled-{o['slice']}-{o['revision']}-{o['role']}" for name, o in owners.items())
    listed = json.loads(run_cli(["list", "-o", "json"], kubeconfig=kc).stdout)["items"]
    assert all(i["owner"] == owners[i["name"]] for i in listed if i["name"] in owners)
    paths = [p for _, p, _ in reqs]
    assert paths[:2] == ["/apis/disaggregatedset.x-k8s.io/v1/namespaces/pd/disaggregatedsets/pd-stalled",
                         "/apis/leaderworkerset.x-k8s.io/v1/namespaces/pd/leaderworkersets"]
    text = run_cli(["map", "ds/pd-stalled"], kubeconfig=kc).stdout
    assert all(c in text for c in children)
    missing = run_cli(["map", "ds/nope"], kubeconfig=kc)
    assert missing.exit_code == 1 and 'disaggregatedset "nope" not found' in missing.stderr
    assert run_cli(["map", "ds/pd-stalled", "-A"], kubeconfig=kc).exit_code == 2
