"""DisaggregatedSet model and renderers on the recordings of a real DS on LWS v0.10.0 (golden ``ds/``).

What the recordings show and the model must hold (README section F): ``.status`` is absent, so the state is
derived from the child LWS; the target revision is the one running the spec's templates; a stalled rollout
says nothing itself, so ``Stalled`` (with the health model's cause) is ours to say; -prv Services exist
only for revisions with a ready group per role; External roles take their count from the role scaler.
Both status shapes (empty, and the written one of later controllers) are exercised.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from golden import GOLDEN
from kubectl_lws import errors
from kubectl_lws.model import ds as D
from kubectl_lws.model import events as E
from kubectl_lws.model.target import parse_target
from kubectl_lws.model.timeutil import parse_time
from kubectl_lws.render import ds as R

DS_OBJECTS = GOLDEN / "ds" / "objects"
SAMPLE = "disaggregatedset-sample"


def load(snapshot: str, name: str):
    data = json.loads((DS_OBJECTS / snapshot / name).read_text())
    return data.get("items", data) if "items" in data else data


def snapshot(name: str, *, after: float = 5.0, stuck_after: float = 300.0, ds_edit=None, scalers: bool = False,
             hpas=()):
    """Assess a golden snapshot at ``after`` seconds past its newest pod (the recordings' clock)."""
    ds = load(name, "disaggregatedset.json")
    if ds_edit:
        ds = copy.deepcopy(ds)
        ds_edit(ds)
    pods = load(name, "pods.json")
    now = parse_time(max(p["metadata"]["creationTimestamp"] for p in pods)) + timedelta(seconds=after)
    sc = load(name, "disaggregatedsetrolescalers.json") if scalers else None
    return D.assess_ds(D.ds_view(ds), load(name, "leaderworkersets.json"), pods,
                       services=load(name, "services.json"), scalers=sc, hpas=list(hpas), now=now,
                       stuck_after=stuck_after), now


# ---- addressing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["ds/x", "disaggregatedset/x", "disaggregatedsets/x", "DisaggregatedSet/x",
                                  "disaggregatedsets.disaggregatedset.x-k8s.io/x",
                                  "disaggregatedset.disaggregatedset.x-k8s.io/x",
                                  "disaggregatedsets.v1.disaggregatedset.x-k8s.io/x"])
def test_ds_spellings(text):
    t = parse_target(text)
    assert (t.kind, t.name, t.ref) == ("ds", "x", "ds/x")


@pytest.mark.parametrize("text", ["x", "lws/x", "leaderworkerset/x", "LeaderWorkerSet/x",
                                  "leaderworkersets.leaderworkerset.x-k8s.io/x"])
def test_lws_spellings(text):
    t = parse_target(text)
    assert (t.kind, t.name) == ("lws", "x")


@pytest.mark.parametrize("text, words", [
    ("deploy/x", '"deploy/" is not a kind kubectl lws knows (unknown kind: give ds/NAME for a DisaggregatedSet, '
                 'lws/NAME or NAME for a LeaderWorkerSet)'),
    ("ds/", "disaggregatedset name must not be empty"),
    ("ds/a/b", 'has more than one "/"'),
    ("ds/Bad", 'invalid disaggregatedset name "Bad"'),
    ("dsrs/x-decode", "scaled through its set: kubectl lws scale ds/NAME --role ROLE"),
])
def test_bad_targets_are_usage_errors(text, words):
    with pytest.raises(errors.UsageError) as info:
        parse_target(text)
    assert words in info.value.message and info.value.exit_code == 2


def test_child_ref_from_labels_and_owner():
    lws = load("f3-stalled-120s", "leaderworkersets.json")
    ref = D.child_ref(next(o for o in lws if o["metadata"]["name"].endswith("-1-b890c4a6-decode")))
    assert (ref.ds, ref.role, ref.slice, ref.revision, ref.controlled) == (SAMPLE, "decode", 1, "b890c4a6", True)
    assert ref.describe() == f"owned by DisaggregatedSet {SAMPLE}, role decode, slice 1, revision b890c4a6"
    assert D.child_ref({"metadata": {"name": "plain", "labels": {}}}) is None


# ---- the target revision and the grid -------------------------------------------------------------------

@pytest.mark.parametrize("name, target, serving", [
    ("f1-sample-settled", "f5319d59", set()),
    ("f2a-rollout-mid", "0fec0569", {"f5319d59"}),
    ("f2b-rollout-mid", "c96cd1c8", {"0fec0569"}),
    ("f3-stalled-120s", "b890c4a6", {"c96cd1c8"}),
    ("f3-recovered", "c96cd1c8", set()),
])
def test_target_revision_is_the_one_running_the_spec(name, target, serving):
    da, _ = snapshot(name)
    assert da.target_revision == target and da.target_source == "template"
    assert {c.ref.revision for c in da.children if not c.target} == serving


def test_grid_initial_replicas_and_prv_services():
    da, _ = snapshot("f3-stalled-120s")
    old = da.children_of(slice_=0, revision="c96cd1c8")
    new = da.children_of(slice_=0, revision="b890c4a6")
    assert {c.ref.role: c.initial_replicas for c in old} == {"prefill": 2, "decode": 2}
    assert all(c.prv for c in old) and not any(c.prv for c in new)  # the new revision has no ready decode
    assert {c.ref.role: (c.ready, c.replicas) for c in new} == {"prefill": (1, 1), "decode": (0, 1)}
    headers, rows = R.grid_rows(da)
    assert headers == ["SLICE", "REVISION", "PREFILL", "DECODE", "PRV"]
    assert rows[0] == ["0", "c96cd1c8", "1/1 (initial 2)", "2/2 (initial 2)", "yes"]
    assert rows[1] == ["0", "b890c4a6 target", "1/1", "0/1", "no"]


# ---- states ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, ratio", [("f1-sample-settled", ("4:4", "4:4")), ("f2a-rollout-end", ("4:4", "4:4")),
                                         ("f6-prefill-replicas-3", ("6:4", "6:4")),
                                         ("f6-slices-3", ("9:6", "9:6")), ("f6-slices-1", ("3:2", "3:2"))])
def test_settled_sets_are_healthy(name, ratio):
    da, _ = snapshot(name)
    assert da.state == "Healthy" and da.state_source == "children" and not da.rolling and da.stall is None
    assert da.ratio() == ratio


def test_mid_rollout_is_progressing_per_slice_and_role():
    da, _ = snapshot("f2a-rollout-mid")
    assert da.state == "Progressing" and da.rolling
    assert da.reason.startswith("rolling out 0fec0569: slice 0 ")
    s0 = da.slices[0].roles
    assert s0["prefill"] == {"old": 1, "oldReady": 1, "new": 2, "newReady": 1, "desired": 2}
    # both revisions serve: 5 groups of each role are ready, 4 desired
    assert da.ratio() == ("5:5", "4:4")


def test_stalled_rollout_is_named_with_the_health_models_cause():
    da, _ = snapshot("f3-stalled-120s", after=120, stuck_after=60)
    assert da.state == "Stalled"
    st = da.stall
    assert (st.role, st.slice, st.group, st.child) == ("decode", 0, 0, f"{SAMPLE}-0-b890c4a6-decode")
    assert st.label.startswith("Pending: leader unschedulable (0/71 nodes")
    assert "stalled for 2m" in da.reason and "decode slice 0 group 0 Pending" in da.reason
    # the same set before --stuck-after is only progressing
    young, _ = snapshot("f3-stalled-120s", after=120, stuck_after=300)
    assert young.state == "Progressing" and young.stall is None


def test_events_date_the_stall_and_give_its_cause():
    da, now = snapshot("f3-stalled-60s", after=70, stuck_after=60)
    events = E.normalize_all(load("f3-stalled-60s", "events-core-v1.json"))
    D.explain(da, events, now=now)
    assert da.events_info["read"] is True
    assert da.state == "Stalled"
    assert da.stall.cause["reason"] == "FailedScheduling"
    assert "Insufficient nvidia.com/gpu" in da.stall.cause["message"]


def test_external_role_counts_come_from_the_scaler_and_its_hpa():
    hpa = {"metadata": {"name": "decode-load"},
           "spec": {"scaleTargetRef": {"apiVersion": "disaggregatedset.x-k8s.io/v1",
                                       "kind": "DisaggregatedSetRoleScaler", "name": "ds-ext-decode"}}}
    da, _ = snapshot("f4-ds-ext-after-scale-2", scalers=True, hpas=[hpa])
    decode = next(r for r in da.roles if r.name == "decode")
    assert decode.spec.mode == "External" and decode.spec.replicas == 3  # written, ignored by the controller
    assert (decode.per_slice, decode.desired, decode.ready) == (2, 2, 2)
    assert decode.scaler.name == "ds-ext-decode" and decode.hpas == ["decode-load"]
    assert da.state == "Healthy"
    _, rows = R.role_rows(da)
    assert rows[1][1].startswith("External (scaler ds-ext-decode 2") and "HPA decode-load" in rows[1][1]


def test_external_role_without_scalers_read_has_no_desired_count():
    da, _ = snapshot("f4-ds-ext-created")
    decode = next(r for r in da.roles if r.name == "decode")
    assert decode.desired is None and da.ratio()[1] == "1:?"


def test_slices_being_removed_are_scaling():
    da, _ = snapshot("f6-slices-3", ds_edit=lambda d: d["spec"].update(slices=1))
    assert da.state == "Scaling" and "slice 1 being removed" in da.reason
    assert [s.removed for s in da.slices] == [False, True, True]


def test_a_missing_slice_is_scaling_up():
    da, _ = snapshot("f6-slices-1", ds_edit=lambda d: d["spec"].update(slices=2))
    assert da.state == "Scaling" and "slice 1 prefill not created yet" in da.reason


def test_every_slice_without_a_ready_role_is_unavailable():
    da, _ = snapshot("f1-sample-settled")
    pods = [p for p in load("f1-sample-settled", "pods.json") if "decode" not in p["metadata"]["name"]]
    da = D.assess_ds(da.view, load("f1-sample-settled", "leaderworkersets.json"), pods, now=_now("f1-sample-settled"))
    assert da.state == "Unavailable" and da.reason.startswith("no slice can serve: slice 0 has no ready decode group")


def _now(name):
    pods = load(name, "pods.json")
    return parse_time(max(p["metadata"]["creationTimestamp"] for p in pods)) + timedelta(seconds=5)


# ---- the written status of later controllers ----------------------------------------------------------

def written(conditions, *, observed=None, roles=None):
    def edit(ds):
        gen = ds["metadata"]["generation"]
        ds["status"] = {"observedGeneration": gen if observed is None else observed,
                        "roleStatuses": roles or [], "conditions": conditions}
    return edit


AVAILABLE = {"type": "Available", "status": "True", "reason": "AllRolesReady", "observedGeneration": 1,
             "message": "All roles have reached their desired replica count, ready and updated to the current revision"}
PROGRESSING = {"type": "Progressing", "status": "True", "reason": "RolloutInProgress", "observedGeneration": 4,
               "message": "Not all roles have reached their desired replica count, ready and updated to the "
                          "current revision"}


def test_written_available_condition_gives_the_state():
    roles = [{"name": "prefill", "replicas": 4, "readyReplicas": 4, "updatedReplicas": 4},
             {"name": "decode", "replicas": 4, "readyReplicas": 4, "updatedReplicas": 4}]
    da, _ = snapshot("f1-sample-settled", ds_edit=written([AVAILABLE], roles=roles))
    assert (da.state, da.state_source) == ("Healthy", "conditions")
    assert da.reason.startswith("AllRolesReady: All roles have reached")
    doc = R.status_doc(da)
    assert doc["statusWritten"] is True and doc["roles"][0]["status"]["readyReplicas"] == 4


def test_written_progressing_condition_still_stalls_from_the_children():
    da, _ = snapshot("f3-stalled-120s", after=120, stuck_after=60, ds_edit=written([PROGRESSING]))
    assert (da.state, da.state_source) == ("Stalled", "children")
    calm, _ = snapshot("f3-stalled-120s", after=120, stuck_after=300, ds_edit=written([PROGRESSING]))
    assert (calm.state, calm.state_source) == ("Progressing", "conditions")
    assert calm.reason.startswith("RolloutInProgress: ")


def test_stale_written_status_is_not_believed():
    da, _ = snapshot("f2a-rollout-mid", ds_edit=written([AVAILABLE], observed=1))
    assert (da.state, da.state_source) == ("Progressing", "children")
    assert "not current" in "\n".join(R.header_lines(da, color=False))


# ---- rendering ------------------------------------------------------------------------------------------------

def test_status_doc_schema():
    da, _ = snapshot("f3-stalled-120s", after=120, stuck_after=60)
    doc = R.status_doc(da)
    assert list(doc) == ["kind", "name", "namespace", "state", "reason", "stateSource", "generation",
                         "observedGeneration", "statusWritten", "conditions", "targetRevision",
                         "targetRevisionSource", "slices", "placementPolicy", "roles", "ratio", "children",
                         "rollout", "groups", "events"]
    assert doc["kind"] == "DisaggregatedSetStatus" and doc["conditions"] == [] and doc["observedGeneration"] is None
    assert doc["rollout"]["stalled"] is True and doc["rollout"]["stall"]["role"] == "decode"
    g = next(g for g in doc["groups"] if g["lws"].endswith("-0-b890c4a6-decode"))
    assert (g["role"], g["slice"], g["target"], g["state"]) == ("decode", 0, True, "Pending")
    assert json.loads(json.dumps(doc)) == doc


def test_text_view_has_roles_grid_rollout_and_groups():
    da, _ = snapshot("f3-stalled-120s", after=120, stuck_after=60)
    text = R.render_status(da, [(c, g) for c in da.children for g in c.a.groups])
    for words in ("State:      Stalled: rollout to b890c4a6", "Revision:   b890c4a6 (target), c96cd1c8 still serving",
                  "Ratio:      prefill:decode 4:4 ready now, 4:4 desired", "ROLE      MODE", "SLICE   REVISION",
                  "STALLED for 2m (--stuck-after 60s): decode slice 0 group 0", "0       b890c4a6       0       0/1"):
        assert words in text, words


def test_cluster_text_is_escaped_in_the_text_view():
    def hostile(ds):
        ds["spec"]["roles"][0]["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["image"] = \
            "evil\x1b]0;owned\x07:1"
    da, _ = snapshot("f1-sample-settled", ds_edit=hostile)
    text = R.render_status(da, [])
    assert "\x1b" not in text and "\x07" not in text and "evil^[]0;owned^G:1" in text


def test_list_row():
    da, now = snapshot("f3-stalled-120s", after=120, stuck_after=60)
    item = R.list_item(da, now)
    assert item["kind"] == "DisaggregatedSetSummary" and item["stalled"] and item["rolloutInProgress"]
    assert item["roles"][1] == {"name": "decode", "mode": "Static", "ready": 4, "desired": 4, "updated": 0}
    text = R.list_table([(da, item)], all_namespaces=False, wide=True, color=False)
    assert f"ds/{SAMPLE}" in text and "prefill 4/4, decode 4/4" in text and "stalled" in text


def test_watch_change_lines_between_two_recordings():
    before, _ = snapshot("f3-stalled-120s", after=120, stuck_after=60)
    after, now = snapshot("f3-recovered", after=5)
    leaders: dict = {}
    first = R.change_lines(None, before, now, leaders)
    assert len(first) == 1 and first[0].split("  ")[1] == f"ds/{SAMPLE}" and "Stalled: rollout to b890c4a6" in first[0]
    lines = R.change_lines(before, after, now, leaders)
    assert "Healthy:" in lines[0] and "ready prefill 4/4, decode 4/4" in lines[0]
    assert any("decode/s0/b890c4a6  group 0  removed" in x for x in lines)  # the stalled revision is gone
    assert R.change_lines(after, after, now, leaders) == []
