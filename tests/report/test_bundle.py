"""Pure bundle helpers: redaction everywhere an env value can hide, event matching, node summaries."""

from __future__ import annotations

import json

from kubectl_lws.model import bundle


def test_redact_masks_env_in_templates_and_last_applied() -> None:
    env = [{"name": "HF_TOKEN", "value": "hf_abc"}, {"name": "NCCL_DEBUG", "value": "INFO"},
           {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]
    applied = {"spec": {"template": {"spec": {"containers": [{"env": env}]}}}}
    obj = {"metadata": {"name": "x", "managedFields": [{"manager": "m"}],
                        "annotations": {bundle.LAST_APPLIED: json.dumps(applied)}},
           "data": {"spec": {"template": {"spec": {"containers": [{"env": [dict(e) for e in env]}]}}}}}
    out, masked = bundle.redact(obj, drop_managed_fields=True)
    text = json.dumps(out)
    assert "hf_abc" not in text and masked == 2
    assert "managedFields" not in out["metadata"]
    assert '"NCCL_DEBUG", "value": "INFO"' in text
    assert obj["data"]["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "hf_abc"  # a copy


def test_unparseable_last_applied_is_masked_whole() -> None:
    out, masked = bundle.redact({"metadata": {"annotations": {bundle.LAST_APPLIED: "{oops"}}})
    assert out["metadata"]["annotations"][bundle.LAST_APPLIED] == "***" and masked == 1


def test_related_events_by_uid_or_kind_and_name() -> None:
    uids, names = bundle.owned_names({"metadata": {"name": "a", "uid": "u1"}}, [{"metadata": {"name": "a-0"}}],
                                     [{"metadata": {"name": "a-0", "uid": "p1"}}], [])
    events = [{"involvedObject": {"kind": "Pod", "name": "a-0", "uid": "old"}, "lastTimestamp": "2"},
              {"involvedObject": {"kind": "LeaderWorkerSet", "name": "zzz", "uid": "u1"}, "lastTimestamp": "1"},
              {"involvedObject": {"kind": "Pod", "name": "other-0", "uid": "p9"}}]
    got = bundle.related_events(events, uids, names)
    assert [e["lastTimestamp"] for e in got] == ["1", "2"]
    v1 = [{"regarding": {"kind": "StatefulSet", "name": "a-0"}, "eventTime": "3"}]
    assert bundle.related_events(v1, uids, names, "events") == v1


def test_node_summary_keeps_placement_facts_only() -> None:
    node = {"metadata": {"name": "n1", "labels": {"zone": "z1"}, "annotations": {"big": "x"}},
            "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]},
            "status": {"capacity": {"nvidia.com/gpu": "8"}, "images": [{"names": ["a"]}],
                       "conditions": [{"type": "Ready", "status": "True", "heartbeat": "x"}]}}
    s = bundle.node_summary(node)
    assert s["labels"] == {"zone": "z1"} and s["taints"][0]["key"] == "gpu"
    assert s["conditions"] == [{"type": "Ready", "status": "True"}] and "images" not in s
