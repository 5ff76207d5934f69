"""Plans for changing a DisaggregatedSet (model/dsplans), its events (model/ds.events_of_ds) and the scoped
log prefixes (model/logsel), on the golden recordings (README section F)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from golden import GOLDEN
from kubectl_lws import errors
from kubectl_lws.model import ds as D
from kubectl_lws.model import dsplans as P
from kubectl_lws.model import events as E
from kubectl_lws.model import logsel
from kubectl_lws.model.timeutil import parse_time

OBJ = GOLDEN / "ds" / "objects"


def items(snapshot: str, name: str):
    data = json.loads((OBJ / snapshot / name).read_text())
    return data.get("items", data)


def assessed(snapshot: str, **edit):
    ds = items(snapshot, "disaggregatedset.json")
    if edit:
        ds = json.loads(json.dumps(ds))
        for k, v in edit.items():
            ds["spec"][k] = v
    pods = items(snapshot, "pods.json")
    now = parse_time(max(p["metadata"]["creationTimestamp"] for p in pods)) + timedelta(seconds=5)
    return D.assess_ds(D.ds_view(ds), items(snapshot, "leaderworkersets.json"), pods,
                       services=items(snapshot, "services.json"), now=now)


def test_static_scale_down_names_the_groups_of_every_slice():
    da = assessed("f6-prefill-replicas-3")
    plan = P.plan_role_scale(da, P.roles_named(da.view, ["prefill"]), 2)
    assert plan.direction == "down" and plan.key() == (("prefill",), (3,), 2)
    text = "\n".join(plan.lines())
    assert "prefill: 3 -> 2 groups per slice (x2 slices: 6 -> 4); removes 2 groups" in text
    assert "disaggregatedset-sample-0-c96cd1c8-prefill: group 2 deleted" in text
    assert "disaggregatedset-sample-1-c96cd1c8-prefill: group 2 deleted" in text
    ops = plan.json_patch()
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion",
                      "value": da.view.raw["metadata"]["resourceVersion"]}
    assert ops[1:] == [{"op": "test", "path": "/spec/roles/0/name", "value": "prefill"},
                       {"op": "add", "path": "/spec/roles/0/spec/replicas", "value": 2}]


def test_static_scale_up_counts_pods_and_gpus():
    da = assessed("f1-sample-settled")
    plan = P.plan_role_scale(da, P.roles_named(da.view, ["decode"]), 3)
    assert plan.direction == "up"
    assert "decode: 2 -> 3 groups per slice (x2 slices: 4 -> 6); adds 2 groups, 2 pods, no GPUs requested" \
        in plan.lines()[0]


def test_all_or_none_is_refused_before_anything_is_sent():
    da = assessed("f1-sample-settled")
    with pytest.raises(errors.UsageError) as info:
        P.plan_role_scale(da, P.roles_named(da.view, ["prefill"]), 0)
    assert "Static roles must all be at 0 replicas or all above 0" in info.value.message
    assert "prefill would be at 0 and decode at 2" in info.value.message
    assert "kubectl lws scale ds/disaggregatedset-sample --role prefill --role decode --replicas 0" \
        in info.value.message
    both = P.plan_role_scale(da, P.roles_named(da.view, ["decode", "prefill"]), 0)
    assert both.roles == ("prefill", "decode") and both.direction == "down"


def test_unknown_role_names_the_roles():
    da = assessed("f1-sample-settled")
    with pytest.raises(errors.UsageError) as info:
        P.roles_named(da.view, ["router"])
    assert info.value.message == ('role "router" does not exist in disaggregatedset "disaggregatedset-sample" '
                                  "(roles: prefill, decode)")


def test_slices_down_deletes_whole_slices_without_draining():
    da = assessed("f6-slices-3")
    plan = P.plan_slices(da, 1)
    assert plan.direction == "down" and len(plan.removed) == 4
    text = "\n".join(plan.lines())
    assert "slices 1-2 are deleted at once, without draining" in text and "capacity: 1 of 3 slices remain" in text
    assert plan.json_patch()[1] == {"op": "add", "path": "/spec/slices", "value": 1}
    up = P.plan_slices(assessed("f6-slices-1"), 3)
    assert "slices 1-2 are created at the current revision c96cd1c8" in up.lines()[1]
    assert "adds 10 groups, 10 pods" in up.lines()[1]


@pytest.mark.parametrize("n, words", [(0, "between 1 and 100"), (101, "between 1 and 100")])
def test_slices_out_of_bounds(n, words):
    with pytest.raises(errors.UsageError) as info:
        P.plan_slices(assessed("f1-sample-settled"), n)
    assert words in info.value.message


def test_slices_refused_with_an_external_role():
    with pytest.raises(errors.UsageError) as info:
        P.plan_slices(assessed("f4-ds-ext-created"), 2)
    assert "more than one slice is not supported while a role has scaling.mode External (decode" in info.value.message


def test_restart_child_needs_the_slice_when_there_are_several():
    da = assessed("f3-stalled-120s")
    with pytest.raises(errors.UsageError) as info:
        P.restart_child(da, "decode", None)
    assert "has 2 slices: give --slice (0-1)" in info.value.message
    child = P.restart_child(da, "decode", 1)
    assert child.name == "disaggregatedset-sample-1-b890c4a6-decode"  # the target revision's child
    with pytest.raises(errors.UsageError):
        P.restart_child(da, "decode", 5)


def test_events_of_the_set_its_children_and_deleted_revisions():
    view = D.ds_view(items("f6-slices-1", "disaggregatedset.json"))
    kids = D.children_of(view.name, items("f6-slices-1", "leaderworkersets.json"))
    evs = E.normalize_all(items("final-events", "events-core-v1.json"))
    mine = D.events_of_ds(evs, view, kids)
    scopes = Counter(de.scope for de in mine)
    assert scopes["-"] > 0  # the set's own events
    # children of revisions deleted long ago are found from the names the events carry
    revisions = {de.revision for de in mine if de.revision}
    assert {"f5319d59", "0fec0569", "c96cd1c8", "b890c4a6"} <= revisions
    pod = next(de for de in mine if de.event.kind == "Pod" and de.event.object_name ==
               "disaggregatedset-sample-1-b890c4a6-decode-0")
    assert (pod.role, pod.slice, pod.group, pod.worker, pod.scope) == ("decode", 1, 0, 0, "decode/s1/g0")
    assert not [e for e in evs if e.object_name.startswith("disaggregatedset-sample")
                and not any(de.event is e for de in mine)]
    assert not any(de.event.object_name.startswith("ds-ext") for de in mine)


def test_log_prefixes_are_scoped_by_role_slice_and_revision_when_two_run():
    pods = items("f3-stalled-120s", "pods.json")
    sel = logsel.select_targets(pods)
    labels = sorted(t.label for t in sel.targets) + sorted(w.label for w in sel.waiting)
    assert "prefill/s0/c96cd1c8/g0/w0" in labels and "prefill/s0/b890c4a6/g0/w0" in labels
    assert "decode/s1/b890c4a6/g0/w0" in labels  # the Pending new decode leader is waiting
    assert len({t.slot for t in sel.targets}) == len(sel.targets)
    one_rev = logsel.select_targets(items("f1-sample-settled", "pods.json"), roles=["decode"], slices=[1])
    assert sorted(t.label for t in one_rev.targets) == ["decode/s1/g0/w0", "decode/s1/g1/w0"]
