"""The DisaggregatedSet API the sandbox serves: the shipped CRDs against the real ones (tests/data/lws), the
recorded refusals of golden F.5 (403 webhook / 422 schema and CEL) replayed over HTTP, discovery, tables,
/scale on role scalers and the admission warning, with kubectl where the golden file is kubectl's output."""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from conftest import start_sandbox
from golden import GOLDEN, LWS_FILES, read_http
from kubectl_lws.model import keys
from kubectl_lws.sandbox import dsapi, webhooks

DS = f"{keys.DS_PLURAL}.{keys.DS_GROUP}"
DSRS = f"{keys.DSRS_PLURAL}.{keys.DS_GROUP}"
CRD_DIR = LWS_FILES / "config/crd/bases"
KUBECTL = shutil.which("kubectl")


def _crd(plural: str) -> dict:
    return yaml.load((CRD_DIR / f"{keys.DS_GROUP}_{plural}.yaml").read_text(),
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _schema(plural: str) -> dict:
    return _crd(plural)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# ------------------------------------------------------------------------------ the shipped CRDs
@pytest.mark.parametrize("plural", [keys.DS_PLURAL, keys.DSRS_PLURAL])
def test_shipped_crds_match_the_real_ones(plural: str) -> None:
    real = _crd(plural)
    ours = next(c for c in dsapi.crds() if c["spec"]["names"]["plural"] == plural)
    assert ours["metadata"]["name"] == real["metadata"]["name"]
    assert ours["spec"]["names"] == real["spec"]["names"]
    assert (ours["spec"]["group"], ours["spec"]["scope"]) == (real["spec"]["group"], real["spec"]["scope"])
    rv, ov = real["spec"]["versions"][0], ours["spec"]["versions"][0]
    assert (ov["name"], ov["served"], ov["storage"]) == (rv["name"], rv["served"], rv["storage"])
    assert ov["subresources"] == rv["subresources"]
    assert ov.get("additionalPrinterColumns") == rv.get("additionalPrinterColumns")


def test_validation_constants_are_the_real_schema() -> None:
    spec = _schema(keys.DS_PLURAL)["properties"]["spec"]
    roles = spec["properties"]["roles"]
    assert (roles["minItems"], roles["maxItems"]) == (dsapi.ROLES_MIN, dsapi.ROLES_MAX)
    assert roles["x-kubernetes-list-map-keys"] == ["name"]
    name = roles["items"]["properties"]["name"]
    assert (name["pattern"], name["maxLength"]) == (dsapi.ROLE_NAME_PATTERN, dsapi.ROLE_NAME_MAX)
    slices = spec["properties"]["slices"]
    assert (slices["minimum"], slices["maximum"], slices["default"]) == (dsapi.SLICES_MIN, dsapi.SLICES_MAX, 1)
    assert spec["x-kubernetes-validations"][0]["message"] == dsapi.CEL_REPLICAS_MESSAGE
    assert spec["properties"]["placementPolicy"]["properties"]["type"]["enum"] == dsapi.PLACEMENT_TYPES
    role = roles["items"]
    for path, allowed in dsapi.ENUMS.items():
        node = role
        for k in path:
            node = node["properties"][k]
        assert node["enum"] == allowed, path
    for path, value in dsapi.ROLE_DEFAULTS:
        node = role
        for k in path:
            node = node["properties"][k]
        assert node["default"] == value, path
    assert role["properties"]["spec"]["properties"]["replicas"]["maximum"] == dsapi.REPLICAS_MAX
    dsrs = _schema(keys.DSRS_PLURAL)["properties"]["spec"]["properties"]["replicas"]
    assert (dsrs["default"], dsrs["minimum"]) == (0, 0)


def test_golden_sets_are_stored_as_recorded() -> None:
    """Admission turns the recorded inputs into the recorded specs (CRD defaults; no mutating webhook)."""
    for relpath, obj_path in (("ds/inputs/ds-sample.yaml", "ds/objects/f1-sample-settled/disaggregatedset.json"),
                              ("ds/inputs/ds-ext.yaml", "ds/objects/f4-ds-ext-created/disaggregatedset.json")):
        recorded = json.loads((GOLDEN / obj_path).read_text())
        recorded = recorded.get("items", [recorded])[0]
        admitted = dsapi.admit_ds(yaml.safe_load((GOLDEN / relpath).read_text()))
        assert admitted["spec"] == recorded["spec"], relpath


# ------------------------------------------------------------------------------ over HTTP
@pytest.fixture(scope="module")
def sb() -> Iterator:
    """A sandbox without controllers holding the golden set as it was when the refusals were recorded."""
    sandbox = start_sandbox(plugins=("lwssystem",))
    sandbox.ensure_namespace("golden-ds")
    recorded = json.loads((GOLDEN / "ds/objects/f6-prefill-replicas-3/disaggregatedset.json").read_text())
    recorded = recorded.get("items", [recorded])[0]
    obj = {"apiVersion": recorded["apiVersion"], "kind": recorded["kind"],
           "metadata": {"name": recorded["metadata"]["name"], "namespace": "golden-ds"}, "spec": recorded["spec"]}
    sandbox.call(lambda: sandbox.store.create(DS, webhooks.admit(sandbox, "CREATE", DS, obj, None)))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _send(sb, method: str, path: str, body: str | None = None, ctype: str = "application/json",
          accept: str = "application/json") -> tuple[int, dict, str]:
    headers = {"Accept": accept, "Authorization": f"Bearer {sb.admin_token}"}
    if body is not None:
        headers["Content-Type"] = ctype
    req = urllib.request.Request(sb.url + path, data=body.encode() if body is not None else None, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


REFUSALS = sorted(p.name for p in (GOLDEN / "ds/http").glob("*invalid*.http"))


@pytest.mark.parametrize("name", REFUSALS)
def test_refusals_match_golden_f5(sb, name: str) -> None:
    """Every recorded refusal: same code, and the same Status body key for key (403 webhook, 422 schema/CEL)."""
    ex = read_http(f"ds/http/{name}")
    status, headers, body = _send(sb, ex.method, ex.path, ex.request_body, ex.request_headers["content-type"])
    assert status == ex.status, body
    assert json.dumps(json.loads(body)) == json.dumps(json.loads(ex.body))


def test_all_roles_at_zero_is_accepted_with_the_recorded_defaults(sb) -> None:
    ex = read_http("ds/http/create-accepted-all-roles-replicas-0.http")
    status, _, body = _send(sb, ex.method, ex.path, ex.request_body)
    assert (status, ex.status) == (201, 201), body
    ours, recorded = json.loads(body), json.loads(ex.body)
    assert ours["spec"] == recorded["spec"]
    assert list(ours) == list(recorded) and "status" not in ours


def test_discovery_lists_both_kinds_and_the_scale_subresource(sb) -> None:
    status, _, body = _send(sb, "GET", f"/apis/{keys.DS_GROUP}/v1")
    doc = json.loads(body)
    assert status == 200 and doc["groupVersion"] == f"{keys.DS_GROUP}/v1"
    names = {r["name"]: r for r in doc["resources"]}
    assert set(names) == {"disaggregatedsets", "disaggregatedsets/status", "disaggregatedsetrolescalers",
                          "disaggregatedsetrolescalers/status", "disaggregatedsetrolescalers/scale"}
    assert names["disaggregatedsetrolescalers"]["shortNames"] == ["dsrs"]
    assert "shortNames" not in names["disaggregatedsets"]
    assert names["disaggregatedsetrolescalers/scale"]["kind"] == "Scale"
    _, _, body = _send(sb, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + DS)
    assert json.loads(body)["status"]["storedVersions"] == ["v1"]


def test_webhook_is_registered_beside_the_lws_ones(sb) -> None:
    _, _, body = _send(sb, "GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations")
    hooks = {h["name"]: h for cfg in json.loads(body)["items"] for h in cfg["webhooks"]}
    assert hooks[dsapi.WEBHOOK]["rules"][0]["resources"] == ["disaggregatedsets"]
    assert hooks[dsapi.WEBHOOK]["clientConfig"]["service"]["path"] == dsapi.WEBHOOK_PATH


def test_external_role_with_replicas_warns_on_create_and_update(sb) -> None:
    """The webhook's warning reaches the client as a 299 Warning header (kubectl prints `Warning: ...`)."""
    body = yaml.safe_load((GOLDEN / "ds/inputs/ds-ext.yaml").read_text())
    body["metadata"] = {"name": "warned", "namespace": "golden-ds"}
    status, headers, text = _send(sb, "POST", f"/apis/{keys.DS_GROUP}/v1/namespaces/golden-ds/disaggregatedsets",
                                  json.dumps(body))
    expected = (GOLDEN / "ds/kubectl/f4-apply-ds-ext.stderr").read_text().splitlines()[0]
    assert status == 201, text
    text = expected.removeprefix("Warning: ").replace("ds-ext-decode", "warned-decode")
    # kube quotes the text (RFC 7230 quoted-string) and sends it as UTF-8; urllib reads headers as latin-1
    assert headers["Warning"].encode("latin-1").decode() == '299 - "' + text.replace('"', '\\"') + '"'
    patch = '[{"op": "replace", "path": "/spec/roles/1/spec/replicas", "value": 5}]'
    status, headers, _ = _send(sb, "PATCH", f"/apis/{keys.DS_GROUP}/v1/namespaces/golden-ds/disaggregatedsets/"
                                            "warned", patch, "application/json-patch+json")
    assert status == 200 and "spec.replicas: 5 \u2014 spec.replicas is ignored" in headers["Warning"].encode(
        "latin-1").decode()
    status, headers, _ = _send(sb, "PATCH", f"/apis/{keys.DS_GROUP}/v1/namespaces/golden-ds/disaggregatedsets/"
                                            "warned", '{"spec": {"roles": null}}', "application/merge-patch+json")
    assert status == 422 and "Warning" not in headers


def test_scaler_scale_subresource_and_schema(sb) -> None:
    base = f"/apis/{keys.DS_GROUP}/v1/namespaces/golden-ds/disaggregatedsetrolescalers"
    scaler = {"apiVersion": f"{keys.DS_GROUP}/v1", "kind": keys.DSRS_KIND,
              "metadata": {"name": "x-decode", "namespace": "golden-ds"}, "spec": {}}
    status, _, body = _send(sb, "POST", base, json.dumps(scaler))
    assert status == 201 and json.loads(body)["spec"] == {"replicas": 0}  # the CRD default
    status, _, body = _send(sb, "GET", base + "/x-decode/scale")
    recorded = json.loads((GOLDEN / "ds/objects/f4-ds-ext-created/dsrs-decode-scale.json").read_text())
    scale = json.loads(body)
    assert status == 200 and list(scale) == list(recorded) and list(scale["metadata"]) == list(recorded["metadata"])
    status, _, body = _send(sb, "PATCH", base + "/x-decode/scale", '{"spec":{"replicas":3}}',
                            "application/merge-patch+json")
    assert status == 200 and json.loads(body)["spec"] == {"replicas": 3}
    status, _, body = _send(sb, "PATCH", base + "/x-decode", '{"spec":{"replicas":-1}}', "application/merge-patch+json")
    assert status == 422 and "greater than or equal to 0" in json.loads(body)["message"]


def test_tables_have_the_crd_columns(sb) -> None:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    _, _, body = _send(sb, "GET", f"/apis/{keys.DS_GROUP}/v1/namespaces/golden-ds/disaggregatedsets", accept=accept)
    table = json.loads(body)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["columnDefinitions"][1]["type"] == "date"
    _, _, body = _send(sb, "GET", f"/apis/{keys.DS_GROUP}/v1/namespaces/golden-ds/disaggregatedsetrolescalers",
                       accept=accept)
    cols = json.loads(body)["columnDefinitions"]
    assert [(c["name"], c["type"]) for c in cols] == [("Name", "string"), ("Desired", "integer"),
                                                      ("Current", "integer"), ("Age", "date")]


# ------------------------------------------------------------------------------ kubectl
@pytest.fixture(scope="module")
def kc(sb, tmp_path_factory) -> str:
    return sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config", namespace="golden-ds")


def _kubectl(kc: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", kc, *args], capture_output=True, text=True, timeout=30,
                          input=stdin, env={"PATH": "/usr/bin:/bin", "HOME": str(Path(kc).parent)})


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("case,name,mutate", [
    ("f5-apply-partition-1", "bad-partition",
     lambda d: d["spec"]["roles"][0]["spec"].__setitem__("rolloutStrategy", {
         "type": "RollingUpdate", "rollingUpdateConfiguration": {"partition": 1}})),
    ("f5-apply-slices-101", "bad-slices-101", lambda d: d["spec"].__setitem__("slices", 101)),
    ("f5-apply-static-role-0-and-2", "bad-mixed-zero", lambda d: d["spec"]["roles"][0]["spec"].__setitem__(
        "replicas", 0)),
])
def test_kubectl_apply_refusals_print_as_recorded(kc, tmp_path, case: str, name: str, mutate) -> None:
    doc = yaml.safe_load((GOLDEN / "ds/inputs/ds-sample.yaml").read_text())
    doc["metadata"] = {"name": name, "namespace": "golden-ds"}
    mutate(doc)
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(doc))
    r = _kubectl(kc, "apply", "-f", str(path))
    recorded = (GOLDEN / f"ds/kubectl/{case}.stderr").read_text().splitlines()
    assert r.returncode == int(recorded[-1].split(": ")[1]) == 1
    assert r.stderr.strip() == recorded[0].replace("$WORK", str(tmp_path))


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_apply_prints_the_webhook_warning(kc, tmp_path) -> None:
    doc = yaml.safe_load((GOLDEN / "ds/inputs/ds-ext.yaml").read_text())
    path = tmp_path / "ds-ext.yaml"
    path.write_text(yaml.safe_dump(doc))
    r = _kubectl(kc, "apply", "-f", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == (GOLDEN / "ds/kubectl/f4-apply-ds-ext.stdout").read_text()
    assert r.stderr.splitlines()[0] == (GOLDEN / "ds/kubectl/f4-apply-ds-ext.stderr").read_text().splitlines()[0]
    r = _kubectl(kc, "get", "disaggregatedsets")
    assert r.returncode == 0 and r.stdout.splitlines()[0].split() == ["NAME", "AGE"]
    assert "ds-ext" in r.stdout and "disaggregatedset-sample" in r.stdout
    r = _kubectl(kc, "api-resources", "--api-group", keys.DS_GROUP, "--no-headers")
    assert [ln.split()[:2] for ln in r.stdout.splitlines()] == [["disaggregatedsetrolescalers", "dsrs"],
                                                               ["disaggregatedsets", f"{keys.DS_GROUP}/v1"]]
