"""history ds/NAME, pure: which recorded LWS folders are a set's children, and the order of its children."""
from __future__ import annotations

from kubectl_lws.model.history import recorded_child, set_doc

OWNER = {"kind": "DisaggregatedSet", "name": "pd", "role": "decode", "slice": 1, "revision": "05f5beec"}


def test_the_owner_the_recorder_wrote_decides() -> None:
    lines = [{"type": "gap"}, {"type": "incarnation", "owner": OWNER}]
    assert recorded_child("pd", "anything", lines) == OWNER
    assert recorded_child("other", "pd-1-05f5beec-decode", lines) is None  # written as another set's child
    assert recorded_child("pd", "pd-1-05f5beec-decode", [{"type": "incarnation", "owner": None}]) == OWNER


def test_a_folder_without_an_ended_incarnation_is_known_by_the_child_name() -> None:
    assert recorded_child("pd", "pd-1-05f5beec-decode", []) == OWNER
    assert recorded_child("pd", "pd-05f5beec-decode", [])["slice"] == 0  # v0.9 naming: one slice
    assert recorded_child("pd", "pd-decode", []) is None
    assert recorded_child("pd", "pdx-1-05f5beec-decode", []) is None
    assert recorded_child("pd", "pd-1-05F5BEEC-decode", []) is None


def test_children_in_slice_then_the_sets_role_order() -> None:
    def child(role: str, sl: int) -> tuple[dict, dict]:
        owner = {**OWNER, "role": role, "slice": sl}
        return owner, {"name": f"pd-{sl}-05f5beec-{role}", "unknown": [], "gaps": [], "groups": []}

    doc = set_doc("pd", "ns", "cluster", [child("decode", 1), child("decode", 0), child("prefill", 1),
                                          child("prefill", 0)], note="", roles=["prefill", "decode"])
    assert [(c["slice"], c["role"]) for c in doc["children"]] == [(0, "prefill"), (0, "decode"), (1, "prefill"),
                                                                   (1, "decode")]
    assert doc["kind"] == "DisaggregatedSetHistory" and doc["children"][0]["name"] == "pd-0-05f5beec-prefill"
