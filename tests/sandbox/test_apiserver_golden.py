"""Replay recorded requests from tests/data/golden against the sandbox API server over real HTTP and compare
status codes and bodies (Status bodies byte-for-byte as JSON, list shapes, continue tokens, watch 410)."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from conftest import load_golden_objects, start_sandbox
from golden import GOLDEN, read_http

POD_GETTER_TOKEN = "pod-getter-token"
POD_GETTER = "system:serviceaccount:golden:pod-getter"
LWS = "leaderworkersets.leaderworkerset.x-k8s.io"


@pytest.fixture(scope="module")
def sb() -> Iterator:
    """A bare API server (no controllers) holding the recorded objects of namespace ``golden``."""
    sandbox = start_sandbox(plugins=(), tokens={POD_GETTER_TOKEN: {"user": POD_GETTER, "rules": [
        {"verbs": ["get"], "resources": ["pods"], "namespaces": ["golden"]}]}})
    load_golden_objects(sandbox, ("basic", "excl", "subg", "uniq", "single"), managed_fields=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def replay(sb, relpath: str) -> tuple[int, str, str]:
    """Send the recorded request (method, path, content type, body, token role) to the sandbox."""
    ex = read_http("http/" + relpath)
    auth = ex.request_headers.get("authorization", "")
    token = {"<REDACTED-admin-token>": sb.admin_token,
             "<REDACTED-serviceaccount-golden-pod-getter-token>": POD_GETTER_TOKEN}.get(auth[7:], "bogus-token")
    headers = {"Authorization": f"Bearer {token}",
               "Accept": ex.request_headers.get("accept", "application/json")}
    data = None
    if ex.request_body:
        data = ex.request_body.encode()
        headers["Content-Type"] = ex.request_headers.get("content-type", "application/json")
    req = urllib.request.Request(sb.url + ex.path, data=data, method=ex.method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


STATUS_CASES = [
    "errors/400-bad-labelSelector.http", "errors/400-bad-labelSelector-unclosed-in.http",
    "errors/400-bad-labelSelector-on-lws-list.http", "errors/400-bad-fieldSelector-unsupported-field.http",
    "errors/400-bad-fieldSelector-on-lws.http", "errors/401-invalid-token.http",
    "errors/404-get-missing-lws.http", "errors/404-patch-missing-lws.http", "errors/404-get-scale-missing-lws.http",
    "errors/404-get-missing-pod.http", "errors/404-get-missing-namespace.http",
    "errors/404-get-lws-in-missing-namespace.http", "errors/409-conflict-put-stale-resourceVersion.http",
    "errors/409-already-exists-create-lws.http", "errors/415-strategic-merge-patch-on-cr.http",
    "errors/422-json-patch-test-op-failed.http", "errors/422-patch-scale-replicas-negative.http",
    "pagination/400-invalid-continue-token.http",
    "rbac/403-list-lws.http", "rbac/403-list-lws-all-namespaces.http", "rbac/403-get-lws.http",
    "rbac/403-get-lws-missing.http", "rbac/403-patch-lws-partition.http", "rbac/403-patch-scale.http",
    "rbac/403-list-pods.http", "rbac/403-delete-pod.http", "rbac/403-get-pod-log.http",
]


# Admission answers (webhooks module) reached through the real HTTP verbs of this server.
ADMISSION_CASES = sorted(p.relative_to(GOLDEN / "http").as_posix() for p in (GOLDEN / "http/errors").glob("*.http")
                         if p.name.startswith(("create-invalid-", "update-invalid-", "403-webhook", "400-mutating")))


@pytest.mark.parametrize("relpath", STATUS_CASES + ADMISSION_CASES)
def test_status_bodies_match_golden(sb, relpath: str) -> None:
    golden = read_http("http/" + relpath)
    status, ctype, body = replay(sb, relpath)
    assert status == golden.status, body
    assert ctype.startswith("application/json")
    # Same keys in the same order, same values.
    assert json.dumps(json.loads(body)) == json.dumps(json.loads(golden.body))


@pytest.mark.parametrize("relpath", ["errors/404-unknown-api-group.http",
                                     "errors/404-unknown-resource-in-lws-group.http"])
def test_unknown_paths_are_plain_text_404(sb, relpath: str) -> None:
    status, ctype, body = replay(sb, relpath)
    assert (status, body) == (404, "404 page not found\n")
    assert ctype.startswith("text/plain")


@pytest.mark.parametrize("relpath", ["errors/200-list-lws-in-missing-namespace-empty-list.http",
                                     "errors/200-list-pods-in-missing-namespace-empty-list.http"])
def test_list_in_missing_namespace_is_empty_list_with_golden_shape(sb, relpath: str) -> None:
    golden = json.loads(read_http("http/" + relpath).body)
    status, _, body = replay(sb, relpath)
    ours = json.loads(body)
    assert status == 200 and ours["items"] == []
    assert list(ours) == list(golden) and list(ours["metadata"]) == list(golden["metadata"])


def test_rbac_allowed_get(sb) -> None:
    status, _, body = replay(sb, "rbac/200-get-pod-allowed.http")
    assert status == 200 and json.loads(body)["kind"] == "Pod"


@pytest.mark.parametrize("kind,pages", [("pods-basic", 7), ("lws", 3)])
def test_pagination_pages_match_golden(sb, kind: str, pages: int) -> None:
    for n in range(1, pages + 1):
        rel = f"pagination/{kind}-limit2-page{n}.http"
        golden = json.loads(read_http("http/" + rel).body)
        status, _, body = replay(sb, rel)
        ours = json.loads(body)
        assert status == 200
        assert [i["metadata"]["name"] for i in ours["items"]] == [i["metadata"]["name"] for i in golden["items"]], rel
        assert list(ours) == list(golden)
        for key in ("remainingItemCount",):
            assert ours["metadata"].get(key) == golden["metadata"].get(key), rel
        assert bool(ours["metadata"].get("continue")) == bool(golden["metadata"].get("continue")), rel
        assert ("continue" in ours["metadata"]) == ("continue" in golden["metadata"]), rel


def test_watch_too_old_resource_version_is_in_stream_410(sb) -> None:
    golden_line = json.loads(read_http("http/watch/watch-pods-rv-1-too-old.http").body.splitlines()[0])
    status, _, body = replay(sb, "watch/watch-pods-rv-1-too-old.http")
    ours = json.loads(body.splitlines()[0])
    assert status == 200 and ours["type"] == "ERROR"
    assert list(ours["object"]) == list(golden_line["object"])
    assert ours["object"]["code"] == 410 and ours["object"]["reason"] == "Expired"
    assert re.fullmatch(r"too old resource version: 1 \(\d+\)", ours["object"]["message"])


@pytest.mark.parametrize("relpath", ["lws/list-lws-as-table.http", "pods/list-pods-as-table.http"])
def test_table_shape_matches_golden(sb, relpath: str) -> None:
    golden = json.loads(read_http("http/" + relpath).body)
    status, _, body = replay(sb, relpath)
    ours = json.loads(body)
    assert status == 200 and list(ours) == list(golden)
    assert ours["columnDefinitions"] == golden["columnDefinitions"]
    assert [r["cells"][0] for r in ours["rows"]] == [r["cells"][0] for r in golden["rows"]]
    for ro, rg in zip(ours["rows"], golden["rows"]):
        assert ro["object"]["kind"] == "PartialObjectMetadata"
        assert ro["cells"][1:4] == rg["cells"][1:4]


def test_scale_get_shape(sb) -> None:
    golden = json.loads(read_http("http/scale/get-scale-basic.http").body)
    status, _, body = replay(sb, "scale/get-scale-basic.http")
    ours = json.loads(body)
    assert status == 200
    assert json.dumps({k: v for k, v in ours.items() if k != "metadata"}) == \
        json.dumps({k: v for k, v in golden.items() if k != "metadata"})
    assert list(ours["metadata"]) == list(golden["metadata"])


@pytest.mark.parametrize("relpath", ["discovery/api.http", "discovery/apis_leaderworkerset-x-k8s-io.http",
                                     "discovery/apis_leaderworkerset-x-k8s-io_v1.http"])
def test_discovery_shapes(sb, relpath: str) -> None:
    golden = json.loads(read_http("http/" + relpath).body)
    status, _, body = replay(sb, relpath)
    ours = json.loads(body)
    assert status == 200 and list(ours) == list(golden)
    if "resources" in golden:
        assert [r["name"] for r in ours["resources"]] == [r["name"] for r in golden["resources"]]
        assert ours["resources"][0]["shortNames"] == ["lws"]


def test_aggregated_discovery_content_type(sb) -> None:
    status, ctype, body = replay(sb, "discovery/apis_aggregated-v2.http")
    assert status == 200 and "as=APIGroupDiscoveryList" in ctype
    names = [i["metadata"]["name"] for i in json.loads(body)["items"]]
    assert "leaderworkerset.x-k8s.io" in names and "apps" in names


@pytest.mark.parametrize("name", ["basic", "excl", "subg", "uniq", "single", "subgroupsize3-size4-accepted"])
def test_create_lws_matches_golden_201(name: str) -> None:
    """POST of each recorded manifest: 201 and the same defaulted spec (webhook + CRD defaults via admit())."""
    sandbox = start_sandbox(plugins=())
    try:
        sandbox.ensure_namespace("golden")
        rel = f"lws/create-lws-{name}.http"
        golden = json.loads(read_http("http/" + rel).body)
        status, _, body = replay(sandbox, rel)
        ours = json.loads(body)
        assert status == 201, body
        assert ours["spec"] == golden["spec"]
        assert list(ours) == [k for k in golden if k in ours]  # CR keys serialize alphabetically
        assert ours["metadata"]["generation"] == 1 and ours["metadata"]["uid"]
        stored = sandbox.get(LWS, "golden", golden["metadata"]["name"])
        assert stored["spec"] == golden["spec"]
    finally:
        sandbox.stop()
