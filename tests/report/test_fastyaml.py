"""The fast YAML emitter reads back equal to its input (golden API objects and awkward strings)."""

from __future__ import annotations

import json

import pytest
import yaml

from golden import GOLDEN
from kubectl_lws.render.fastyaml import dumps


@pytest.mark.parametrize("relpath", ["objects/basic/pods.json", "objects/basic/statefulsets.json",
                                     "objects/basic/controllerrevisions.json", "objects/nodes.json",
                                     "objects/events-core-v1.json", "objects/crd-leaderworkersets.json",
                                     "objects/pod-big-17-3-real-4096-pod-lws.json"])
def test_golden_objects_round_trip(relpath: str) -> None:
    data = json.loads((GOLDEN / relpath).read_text())
    assert yaml.safe_load(dumps(data)) == data


@pytest.mark.parametrize("value", [
    "yes", "No", "ON", "off", "true", "null", "~", "", " lead", "trail ", "a: b", "a #c", "- x", "[x]", "{x}",
    "10.0.0.1", "0x1F", "1e3", "012", "1:20", ".inf", ".NaN", "2026-11-25T10:00:00Z", "line1\nline2", "tab\t",
    "quote\"s", "back\\slash", "ünïcode", "\u2028sep", "*alias", "&anchor", "!tag", "%dir", "@at", "`tick",
    "'single'", "k:{\"name\":\"x\"}", "leaderworkerset.sigs.k8s.io/name", "y", "n", "=", "<<",
    1, 0, -5, 1.5, True, False, None, [], {}, [[1, [2]], {"a": []}], {"x": {"y": {}}}])
def test_awkward_values_round_trip(value) -> None:
    for data in ({"k": value}, [value], {"list": [value, {"inner": value}]}, {str(value): 1}):
        assert yaml.safe_load(dumps(data)) == data, dumps(data)
