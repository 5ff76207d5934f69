"""LWS and pod admission against the golden recordings and the real CRD/samples."""
from __future__ import annotations

import copy
import glob
import json
import os

import pytest
import yaml

import golden

from kubectl_lws.sandbox import webhooks
from kubectl_lws.sandbox.errors import ApiError

GOLDEN = str(golden.GOLDEN)
LWS_DIR = str(golden.LWS_FILES)


def _http(path: str) -> tuple[str, dict | None, int, dict]:
    """(request line, request JSON body, response code, response JSON body) of a golden .http file."""
    text = open(path).read()
    req, resp = text.split("### REQUEST", 1)[1].split("### RESPONSE", 1)
    req_lines = req.strip("\n").split("\n")
    body_lines = [ln for ln in req_lines if ln.startswith(("{", "["))]
    req_body = json.loads(body_lines[0]) if body_lines else None
    resp_lines = resp.strip("\n").split("\n")
    code = int(resp_lines[0].split()[1])
    resp_body = json.loads(next(ln for ln in resp_lines if ln.startswith("{")))
    return req_lines[0], req_body, code, resp_body


def _merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _golden_lws(name: str) -> dict:
    d = json.load(open(f"{GOLDEN}/objects/{name}/leaderworkerset.json"))
    d.pop("status", None)
    return d


@pytest.mark.parametrize("path", sorted(glob.glob(f"{GOLDEN}/http/errors/create-invalid-*.http")),
                         ids=os.path.basename)
def test_create_invalid_matches_golden_status(path):
    _, body, code, expected = _http(path)
    with pytest.raises(ApiError) as e:
        webhooks.admit(None, "CREATE", webhooks.LWS_RESOURCE, body, None)
    assert e.value.code == code
    assert e.value.status() == expected


@pytest.mark.parametrize("fname,base", [
    ("update-invalid-subGroupPolicy-remove.http", "subg"),
    ("update-invalid-subGroupSize-immutable.http", "subg"),
    ("403-webhook-denied-partition-negative-merge.http", "single"),
    ("400-mutating-webhook-partition-abc-merge.http", "single"),
])
def test_update_denied_matches_golden_status(fname, base):
    _, patch, code, expected = _http(f"{GOLDEN}/http/errors/{fname}")
    old = _golden_lws(base)
    new = _merge_patch(copy.deepcopy(old), patch)
    with pytest.raises(ApiError) as e:
        webhooks.admit(None, "UPDATE", webhooks.LWS_RESOURCE, new, old)
    assert (e.value.code, e.value.status()) == (code, expected)


def test_network_config_null_is_redefaulted_to_shared():
    _, patch, code, expected = _http(f"{GOLDEN}/http/errors/update-networkConfig-null.http")
    assert code == 200
    old = _golden_lws("uniq")
    out = webhooks.admit(None, "UPDATE", webhooks.LWS_RESOURCE, _merge_patch(old, patch), old)
    assert out["spec"]["networkConfig"] == expected["spec"]["networkConfig"] == {"subdomainPolicy": "Shared"}


@pytest.mark.parametrize("name", ["basic", "excl", "subg", "uniq", "single"])
def test_create_defaults_match_golden(name):
    manifest = yaml.safe_load(open(f"{GOLDEN}/inputs/{name}.yaml"))
    out = webhooks.admit(None, "CREATE", webhooks.LWS_RESOURCE, manifest, None)
    assert out["spec"] == _golden_lws(name)["spec"]


def _samples():
    for path in sorted(glob.glob(f"{LWS_DIR}/**/*.yaml", recursive=True)):
        for i, doc in enumerate(yaml.safe_load_all(open(path))):
            if isinstance(doc, dict) and doc.get("kind") == "LeaderWorkerSet":
                yield pytest.param(doc, id=f"{os.path.relpath(path, LWS_DIR)}#{i}")


@pytest.mark.parametrize("doc", list(_samples()))
def test_every_sample_manifest_is_accepted(doc):
    out = webhooks.admit(None, "CREATE", webhooks.LWS_RESOURCE, doc, None)
    assert out["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] == 0


def test_crd_enums_match_real_crd_schema():
    crd = yaml.load(open(f"{LWS_DIR}/config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml"),
                    Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for path, allowed in webhooks._ENUMS.items():
        node = spec
        for k in path:
            node = node["properties"][k]
        assert node["enum"] == allowed, path
    assert spec["properties"]["replicas"]["maximum"] == 1000000


@pytest.mark.parametrize("ruc,ok", [
    ({"maxUnavailable": "50%", "maxSurge": "0%"}, True),
    ({"maxUnavailable": 0, "maxSurge": 1}, True),
    ({"maxUnavailable": "0%", "maxSurge": 0}, False),
    ({"maxSurge": "101%"}, False),
    ({"maxSurge": -1}, False),
    ({"partition": 5}, True),
])
def test_int_or_percent_rules(ruc, ok):
    doc = yaml.safe_load(open(f"{GOLDEN}/inputs/single.yaml"))
    doc["spec"]["rolloutStrategy"] = {"type": "RollingUpdate", "rollingUpdateConfiguration": ruc}
    if ok:
        webhooks.admit(None, "CREATE", webhooks.LWS_RESOURCE, doc, None)
    else:
        with pytest.raises(ApiError) as e:
            webhooks.admit(None, "CREATE", webhooks.LWS_RESOURCE, doc, None)
        assert e.value.code == 403


def test_revision_hash_is_deterministic_and_short():
    a = webhooks.safe_hash({"x": [1, 2], "y": "z"})
    assert a == webhooks.safe_hash({"y": "z", "x": [1, 2]})
    assert a != webhooks.safe_hash({"x": [2, 1], "y": "z"})
    assert 1 <= len(a) <= 10 and set(a) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_subgroup_index_formula():
    # size 4, g 2 (golden subg): leader 0, w1 0, w2/w3 1
    assert [webhooks.subgroup_index(4, 2, w) for w in range(4)] == [0, 0, 1, 1]
    # size 5, g 2: leader extra member of subgroup 0
    assert [webhooks.subgroup_index(5, 2, w) for w in range(5)] == [0, 0, 0, 1, 1]


def test_group_key_is_sha1_of_namespace_and_leader():
    pods = json.load(open(f"{GOLDEN}/objects/basic/pods.json"))["items"]
    leader = next(p for p in pods if p["metadata"]["name"] == "basic-1")
    assert leader["metadata"]["labels"][webhooks.GROUP_KEY] == webhooks.sha1_hex("golden/basic-1")
