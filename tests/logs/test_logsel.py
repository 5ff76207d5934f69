"""logsel on the golden object dumps: which streams, prefixes, colours, bad input."""
from __future__ import annotations

import copy
import json

import pytest
from golden import GOLDEN

from kubectl_lws.errors import UsageError
from kubectl_lws.model import logsel


def pods(name: str) -> list[dict]:
    return json.loads((GOLDEN / "objects" / name / "pods.json").read_text())["items"]


def test_default_is_every_leader_in_group_order():
    sel = logsel.select_targets(pods("basic"))
    assert [(t.group, t.worker, t.pod, t.container, t.prefix) for t in sel.targets] == [
        (0, 0, "basic-0", "leader", "g0/w0"), (1, 0, "basic-1", "leader", "g1/w0"),
        (2, 0, "basic-2", "leader", "g2/w0")]
    assert not sel.waiting and not sel.notes


def test_workers_and_worker_indexes_and_groups():
    sel = logsel.select_targets(pods("basic"), workers=True, groups=[1])
    assert [t.pod for t in sel.targets] == ["basic-1", "basic-1-1", "basic-1-2", "basic-1-3"]
    assert [t.container for t in sel.targets] == ["leader", "worker", "worker", "worker"]
    sel = logsel.select_targets(pods("basic"), worker_indexes=[2])
    assert [t.prefix for t in sel.targets] == ["g0/w2", "g1/w2", "g2/w2"]


def test_colour_is_stable_per_group_and_distinct_for_neighbours():
    sel = logsel.select_targets(pods("basic"), workers=True)
    by_group = {}
    for t in sel.targets:
        by_group.setdefault(t.group, set()).add(t.color)
    assert all(len(c) == 1 for c in by_group.values())
    assert len({next(iter(c)) for c in by_group.values()}) == 3
    assert logsel.group_color(1) == logsel.group_color(1) == by_group[1].pop()
    assert logsel.group_color(0) != logsel.group_color(1)


def test_instance_changes_with_uid_and_restart_but_slot_does_not():
    original = pods("basic")[0]
    recreated = copy.deepcopy(original)
    recreated["metadata"]["uid"] = "new-uid"
    restarted = copy.deepcopy(original)
    restarted["status"]["containerStatuses"][0]["restartCount"] = 2
    a, b, c = (logsel.select_targets([p]).targets[0] for p in (original, recreated, restarted))
    assert a.slot == b.slot == c.slot
    assert len({a.instance, b.instance, c.instance}) == 3


def test_default_container_annotation_and_all_containers():
    pod = copy.deepcopy(pods("basic")[0])
    pod["spec"]["containers"].append({"name": "sidecar", "image": "x"})
    pod["status"]["containerStatuses"].append({"name": "sidecar", "restartCount": 0, "state": {"running": {}}})
    pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] = "sidecar"
    assert [t.container for t in logsel.select_targets([pod]).targets] == ["sidecar"]
    sel = logsel.select_targets([pod], all_containers=True)
    assert [t.prefix for t in sel.targets] == ["g0/w0/leader", "g0/w0/sidecar"]


def test_unknown_container_lists_containers():
    all_pods = pods("basic")
    sel = logsel.select_targets(all_pods, container="nope")
    with pytest.raises(UsageError, match="containers: leader, worker"):
        logsel.check_container(all_pods, "nope", sel)


def test_container_missing_in_some_pods_is_a_note():
    sel = logsel.select_targets(pods("basic"), workers=True, container="worker")
    assert [t.pod for t in sel.targets][:3] == ["basic-0-1", "basic-0-2", "basic-0-3"]
    assert len(sel.notes) == 1 and 'container "worker" is not in basic-0, basic-1, basic-2' in sel.notes[0]


def test_missing_group_lists_existing_ones():
    with pytest.raises(UsageError, match=r"group 5 does not exist .*\(groups: 0-2\)"):
        logsel.validate_request(pods("basic"), replicas=3, size=4, lws_name="basic", groups=[5])
    with pytest.raises(UsageError, match=r"worker index 4 does not exist: group size is 4"):
        logsel.validate_request(pods("basic"), replicas=3, size=4, lws_name="basic", worker_indexes=[4])
    logsel.validate_request(pods("basic"), replicas=3, size=4, lws_name="basic", groups=[2], worker_indexes=[3])


def test_pending_leader_is_waiting_not_a_stream():
    sel = logsel.select_targets(pods("excl-scaled-3-pending"))
    assert [t.pod for t in sel.targets] == ["excl-0", "excl-1"]
    assert [(w.pod, w.reason) for w in sel.waiting] == [("excl-2", "Pending (Unschedulable)")]


def test_terminating_pods_only_with_all_pods():
    pod = copy.deepcopy(pods("basic")[0])
    pod["metadata"]["deletionTimestamp"] = "2026-11-22T10:40:00Z"
    assert logsel.select_targets([pod]).targets == []
    assert [t.pod for t in logsel.select_targets([pod], all_pods=True).targets] == ["basic-0"]


def test_describe_indexes():
    assert logsel.describe_indexes([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert logsel.describe_indexes([]) == "none"


def test_groups_and_worker_indexes_still_narrow_all_pods_and_workers():
    sel = logsel.select_targets(pods("basic"), all_pods=True, groups=[1])
    assert [t.pod for t in sel.targets] == ["basic-1", "basic-1-1", "basic-1-2", "basic-1-3"]
    sel = logsel.select_targets(pods("basic"), all_pods=True, worker_indexes=[2])
    assert [t.prefix for t in sel.targets] == ["g0/w2", "g1/w2", "g2/w2"]
    sel = logsel.select_targets(pods("basic"), workers=True, worker_indexes=[0, 3], groups=[2])
    assert [t.pod for t in sel.targets] == ["basic-2", "basic-2-3"]


def test_container_may_name_an_init_container_as_with_kubectl():
    pod = copy.deepcopy(pods("basic")[0])
    pod["spec"]["initContainers"] = [{"name": "fetch-model", "image": "x"}]
    pod["status"]["initContainerStatuses"] = [
        {"name": "fetch-model", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]
    sel = logsel.select_targets([pod], container="fetch-model")
    assert [(t.container, t.prefix) for t in sel.targets] == [("fetch-model", "g0/w0")]
    assert [t.container for t in logsel.select_targets([pod], all_containers=True).targets] == ["leader"]
    sel = logsel.select_targets([pod], container="nope")
    with pytest.raises(UsageError, match="containers: leader; init containers: fetch-model"):
        logsel.check_container([pod], "nope", sel)
