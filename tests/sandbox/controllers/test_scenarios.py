"""The shipped scenarios: `demo` reaches every state it promises; `golden` reproduces the recorded inputs."""
from __future__ import annotations

import copy
import glob

import pytest
import yaml

from golden import GOLDEN

from kubectl_lws.sandbox import scenario
from kubectl_lws.sandbox import webhooks as wh
from conftest import scenario_sandbox
from kubectl_lws.sandbox.sandbox import Sandbox


@pytest.fixture(scope="module")
def demo():
    with scenario_sandbox("demo") as s:
        yield s


def _status(sb, ns, name):
    return sb.get(wh.LWS_RESOURCE, ns, name)["status"]


def test_demo_healthy(demo):
    st = _status(demo, "demo", "healthy")
    assert (st["readyReplicas"], st["updatedReplicas"], st["replicas"]) == (3, 3, 3)
    assert len(demo.call(lambda: demo.store.list("pods", "demo", label_selector=f"{wh.NAME}=healthy"))) == 12


def test_demo_crash_looping_worker_in_group_1(demo):
    cs = demo.get("pods", "demo", "crashy-1-2")["status"]["containerStatuses"][0]
    assert cs["restartCount"] >= 1 and cs["lastState"]["terminated"]["exitCode"] == 1
    assert demo.get("pods", "demo", "crashy-0-2")["status"]["containerStatuses"][0]["restartCount"] == 0
    assert _status(demo, "demo", "crashy").get("readyReplicas", 0) <= 1


def test_demo_mid_canary(demo):
    lws = demo.get(wh.LWS_RESOURCE, "demo", "canary")
    revs = {i: demo.get("pods", "demo", f"canary-{i}")["metadata"]["labels"][wh.REVISION] for i in range(3)}
    assert revs[0] == revs[1] != revs[2]
    assert lws["status"]["updatedReplicas"] == 1
    assert lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] == 2
    image = demo.get("pods", "demo", "canary-2-1")["spec"]["containers"][0]["image"]
    assert image.endswith(":1.1") and demo.get("pods", "demo", "canary-0-1")["spec"]["containers"][0][
        "image"].endswith(":1.0")


def test_demo_exclusive_group_cannot_be_placed(demo):
    p = demo.get("pods", "default", "pinned-2")
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")
    racks = {demo.get("nodes", None, demo.get("pods", "default", f"pinned-{i}")["spec"]["nodeName"])
             ["metadata"]["labels"]["example.com/rack"] for i in range(2)}
    assert racks == {"rack-1", "rack-2"}
    assert demo.get("statefulsets.apps", "default", "pinned-2") is None


def test_demo_size_one_has_no_worker_sts(demo):
    assert _status(demo, "demo", "solo")["readyReplicas"] == 2
    stss = demo.call(lambda: [s["metadata"]["name"] for s in demo.store.list(
        "statefulsets.apps", "demo", label_selector=f"{wh.NAME}=solo")])
    assert stss == ["solo"]


def test_golden_scenario_matches_recorded_inputs():
    data = yaml.safe_load(open(scenario.SCENARIO_DIR / "golden.yaml"))
    lws = [o for o in data["objects"] if o.get("kind") == "LeaderWorkerSet"]
    inputs = {yaml.safe_load(open(p))["metadata"]["name"]: yaml.safe_load(open(p))
              for p in glob.glob(f"{GOLDEN}/inputs/*.yaml") if "nodes" not in p and "kwok" not in p}
    assert {o["metadata"]["name"]: o for o in lws} == inputs
    assert lws[0]["metadata"]["name"] == "excl" and data["objects"][1] == {"settle": True}
    assert sorted(n["name"] for n in data["nodes"]) == sorted(
        ["kwok-node-0", "gpu-a1", "gpu-a2", "gpu-b1", "gpu-b2", "gpu-c1", "gpu-c2"])


def test_load_named_accepts_a_path(tmp_path):
    f = tmp_path / "mini.yaml"
    f.write_text(yaml.safe_dump({"nodes": [{"name": "only", "capacity": {"nvidia.com/gpu": 2}}],
                                 "objects": [copy.deepcopy(scenario.big(1, 2)["objects"][0])]}))
    with Sandbox(speed=50) as s:
        s.call(scenario.load_named, s, str(f))
        s.wait_settled(30)
        assert s.get(wh.LWS_RESOURCE, "bench", "big")["status"]["readyReplicas"] == 1
        node = s.get("nodes", None, "only")
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "2"
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "only"
