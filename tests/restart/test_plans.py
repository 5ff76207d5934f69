"""Restart and scale plans computed on the golden object dumps (no cluster)."""

from __future__ import annotations

import copy
import json

import pytest
from golden import GOLDEN

from kubectl_lws.model import keys
from kubectl_lws.model.groups import lws_view
from kubectl_lws.model.plans import (group_accelerators, hpas_targeting, plan_restart_groups,
                                     plan_rolling_restart, plan_scale, plan_template_restart,
                                     template_restart_patch)


def load(name: str, kind: str) -> dict:
    return json.loads((GOLDEN / "objects" / name / f"{kind}.json").read_text())


@pytest.fixture(scope="module")
def basic() -> tuple:
    return lws_view(load("basic", "leaderworkerset")), load("basic", "pods")["items"]


def test_restart_one_group_targets_its_leader_and_counts_capacity(basic: tuple) -> None:
    view, pods = basic
    plan = plan_restart_groups(view, pods, [1])
    (target,) = plan.targets
    assert target.leader == "basic-1"
    leader = next(p for p in pods if p["metadata"]["name"] == "basic-1")
    assert target.leader_uid == leader["metadata"]["uid"]
    assert set(target.pods) == {"basic-1", "basic-1-1", "basic-1-2", "basic-1-3"}
    assert len(target.pod_uids) == 4 and target.ready
    assert plan.min_serving == 2
    assert any("2 of 3 groups keep serving" in line for line in plan.lines())
    assert any("Foreground" in line for line in plan.lines())


def test_restart_unknown_group_is_refused(basic: tuple) -> None:
    view, pods = basic
    with pytest.raises(ValueError, match="group 7 does not exist"):
        plan_restart_groups(view, pods, [0, 7])


def test_rolling_restart_is_highest_first_in_batches(basic: tuple) -> None:
    view, pods = basic
    plan = plan_rolling_restart(view, pods, 1)
    assert plan.batches == ((2,), (1,), (0,))
    assert plan.min_serving == 2
    plan2 = plan_rolling_restart(view, pods, 2)
    assert plan2.batches == ((2, 1), (0,))
    assert plan2.min_serving == 1
    assert any("1 of 3 groups keeps serving" in line for line in plan2.lines())


def test_rolling_restart_counts_groups_already_down(basic: tuple) -> None:
    view, pods = basic
    pods = copy.deepcopy(pods)
    for pod in pods:
        if pod["metadata"]["name"] == "basic-0-2":
            pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    plan = plan_rolling_restart(view, pods, 1)
    assert plan.min_serving == 1  # group 0 is down, and one more is restarted at a time
    assert any("not Ready now" in w for w in plan.warnings)


def test_template_restart_patch_touches_both_templates_and_warns_on_partition() -> None:
    view = lws_view(load("basic-canary-partition2", "leaderworkerset"))
    pods = load("basic-canary-partition2", "pods")["items"]
    patch = template_restart_patch(view, "2026-11-23T11:00:00Z")
    lwt = patch["spec"]["leaderWorkerTemplate"]
    for tmpl in ("leaderTemplate", "workerTemplate"):
        assert lwt[tmpl]["metadata"]["annotations"] == {keys.RESTARTED_AT_ANNOTATION: "2026-11-23T11:00:00Z"}
    plan = plan_template_restart(view, pods)
    assert [t.index for t in plan.targets] == [2]
    assert any("partition is 2" in w for w in plan.warnings)


def test_template_restart_without_leader_template_patches_worker_only() -> None:
    view = lws_view(load("single", "leaderworkerset"))
    if view.raw["spec"]["leaderWorkerTemplate"].get("leaderTemplate"):
        pytest.skip("golden single has a leader template")
    lwt = template_restart_patch(view, "t")["spec"]["leaderWorkerTemplate"]
    assert list(lwt) == ["workerTemplate"]


def test_scale_down_names_highest_groups(basic: tuple) -> None:
    view, pods = basic
    plan = plan_scale(view, pods, 3, 1)
    assert [t.index for t in plan.removed] == [2, 1]
    text = "\n".join(plan.lines())
    assert "groups 1,2 will be deleted" in text and "basic-2-3" in text


def test_scale_up_counts_pods_and_gpus(basic: tuple) -> None:
    view, pods = basic
    raw = copy.deepcopy(view.raw)
    lwt = raw["spec"]["leaderWorkerTemplate"]
    lwt["leaderTemplate"]["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": "8"}
    lwt["workerTemplate"]["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": 8}
    gview = lws_view(raw)
    assert group_accelerators(gview) == {"nvidia.com/gpu": 32}
    plan = plan_scale(gview, pods, 3, 5)
    assert tuple(plan.added) == (3, 4) and plan.pods_added == 8
    assert plan.accelerators_added == {"nvidia.com/gpu": 64}
    assert "8 pods, 64 nvidia.com/gpu" in "\n".join(plan.lines())
    assert "no GPUs requested" in "\n".join(plan_scale(view, pods, 3, 4).lines())


def test_hpa_detection_matches_only_this_lws() -> None:
    def hpa(name: str, kind: str, target: str, api: str = "leaderworkerset.x-k8s.io/v1") -> dict:
        return {"metadata": {"name": name},
                "spec": {"scaleTargetRef": {"apiVersion": api, "kind": kind, "name": target}}}
    hpas = [hpa("a", "LeaderWorkerSet", "basic"), hpa("b", "Deployment", "basic", "apps/v1"),
            hpa("c", "LeaderWorkerSet", "other")]
    assert hpas_targeting(hpas, "basic") == ["a"]


def test_negative_replicas_rejected(basic: tuple) -> None:
    view, pods = basic
    with pytest.raises(ValueError):
        plan_scale(view, pods, 3, -1)
