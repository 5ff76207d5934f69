"""DisaggregatedSets end to end: the real CLI against the sandbox and its DisaggregatedSet controller.

The demo scenario gives a set mid-rollout (``pd/pd-rolling``: its new decode groups take long to become
ready) and one whose rollout is stalled (``pd/pd-stalled``: its new decode asks for more GPUs than a node
has). Changes are made to sets of their own (namespace per test). Every bad input of issue 21 is checked:
one line, exit 2 (usage) or 1, nothing sent.
"""

from __future__ import annotations

import itertools
import json
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from cliutil import run_cli, sandbox_http, wait_for
from golden import GOLDEN
from kubectl_lws.model import keys

DS_API = f"/apis/{keys.DS_GROUP}/{keys.DS_VERSION}"
_ns = itertools.count()


def _sandbox_serves_ds() -> bool:
    from kubectl_lws.sandbox import resources

    return f"{keys.DS_PLURAL}.{keys.DS_GROUP}" in resources.RESOURCES


pytestmark = pytest.mark.skipif(not _sandbox_serves_ds(),
                                reason="the sandbox serves no DisaggregatedSet yet (issue 21 item 9)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from kubectl_lws.sandbox.sandbox import Sandbox

    sb = Sandbox(speed=50).start()
    try:
        sb.load_scenario("demo")
        sb.wait_settled(90)
        kc = sb.write_kubeconfig(tmp_path_factory.mktemp("ds") / "kubeconfig", namespace="pd")
        yield sb, kc
    finally:
        sb.stop()


def lws(demo, *args: str, **kw):
    sb, kc = demo
    return run_cli(list(args), kubeconfig=kc, **kw)


def requests(sb, fn):
    sb.request_log.clear()
    result = fn()
    return result, [(m, p, q) for m, p, q, *_ in sb.request_log.entries]


def sample(name: str, namespace: str, *, slices: int = 1, prefill: int = 1, decode: int = 1) -> dict:
    """The golden sample DisaggregatedSet (two roles of size 1), sized for a test."""
    ds = yaml.safe_load((GOLDEN / "ds" / "inputs" / "ds-sample.yaml").read_text())
    ds["metadata"] = {"name": name, "namespace": namespace}
    ds["spec"]["slices"] = slices
    for role, n in zip(ds["spec"]["roles"], (prefill, decode)):
        role["spec"]["replicas"] = n
    return ds


def make_ds(demo, body: dict) -> str:
    """Create a set in its own namespace and wait until `status ds/NAME --exit-code` says Healthy."""
    sb, kc = demo
    ns = body["metadata"]["namespace"]
    sb.ensure_namespace(ns)
    sandbox_http(sb, "POST", f"{DS_API}/namespaces/{ns}/disaggregatedsets", body)
    name = body["metadata"]["name"]
    wait_for(lambda: run_cli(["status", f"ds/{name}", "-n", ns, "--exit-code"], kubeconfig=kc).exit_code == 0,
             timeout=60)
    return ns


def fresh_ns() -> str:
    return f"ds-e2e-{next(_ns)}"


# ---- status and list ------------------------------------------------------------------------------------

def test_status_of_a_healthy_set_in_four_requests(demo):
    sb, _ = demo
    ns = make_ds(demo, sample("calm", fresh_ns(), slices=2, prefill=2, decode=1))
    young, reqs = requests(sb, lambda: lws(demo, "status", "ds/calm", "-n", ns))
    # leaders younger than the re-creation-loop window: the verdict's rule reads events, as for an LWS
    assert young.exit_code == 0 and reqs[-1][1] == f"/api/v1/namespaces/{ns}/events"
    sb.fault("age", namespace=ns, seconds=3600)  # an hour later: settled
    res, reqs = requests(sb, lambda: lws(demo, "status", "ds/calm", "-n", ns))
    assert res.exit_code == 0, res.stderr
    paths = [p for _, p, _ in reqs]
    assert paths == [f"{DS_API}/namespaces/{ns}/disaggregatedsets/calm",
                     f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{ns}/leaderworkersets",
                     f"/api/v1/namespaces/{ns}/pods", f"/api/v1/namespaces/{ns}/services"]
    assert all("labelSelector=disaggregatedset.x-k8s.io/name=calm" in unquote(q) for _, _, q in reqs[1:]), reqs
    out = res.stdout
    assert "State:      Healthy: 6/6 groups ready (prefill:decode 4:2)" in out
    assert "Generation: 1 (no status from the controller: state derived from the child LWS)" in out
    assert "prefill   Static   1      2           4         4       4" in out
    assert out.count(" target   2/2   ") + out.count(" target   1/1   ") == 2 and "yes" in out


def test_status_json_and_filters(demo):
    # the new decode leader has been Pending for a second (of the sandbox's wall clock): stalled
    doc = wait_for(lambda: (d := json.loads(lws(demo, "status", "ds/pd-stalled", "--stuck-after", "1s", "-o",
                                                "json").stdout))["state"] == "Stalled" and d)
    assert doc["kind"] == "DisaggregatedSetStatus"
    assert doc["rollout"]["stall"]["role"] == "decode" and "unschedulable" in doc["rollout"]["stall"]["groupState"]
    assert doc["rollout"]["stall"]["cause"]["reason"] == "FailedScheduling"  # from the events the sandbox wrote
    assert doc["stateSource"] == "children" and doc["conditions"] == []
    only = json.loads(lws(demo, "status", "ds/pd-stalled", "--role", "decode", "-g", "0", "-o", "json").stdout)
    assert {(g["role"], g["index"]) for g in only["groups"]} == {("decode", 0)}
    code = lws(demo, "status", "ds/pd-stalled", "--exit-code", "--stuck-after", "1s")
    assert code.exit_code == 3 and "STALLED for" in code.stdout


def test_mid_rollout_set_shows_both_revisions(demo):
    res = lws(demo, "status", "ds/pd-rolling")
    assert res.exit_code == 0, res.stderr
    assert "State:      Progressing: rolling out" in res.stdout and "still serving" in res.stdout
    assert "(initial " in res.stdout and "Rollout to " in res.stdout


def test_written_status_gives_the_state_from_conditions(demo):
    sb, kc = demo
    sb.faults["ds-status"](mode="written")
    try:
        ns = make_ds(demo, sample("written", fresh_ns()))
        doc = wait_for(lambda: (d := json.loads(run_cli(["status", "ds/written", "-n", ns, "-o", "json"],
                                                        kubeconfig=kc).stdout))["stateSource"] == "conditions" and d)
        assert doc["state"] == "Healthy" and doc["reason"].startswith("AllRolesReady")
        assert doc["observedGeneration"] == 1 and doc["roles"][0]["status"]["readyReplicas"] == 1
    finally:
        sb.faults["ds-status"](mode="empty")


def test_list_shows_sets_beside_lws(demo):
    res = lws(demo, "list")
    assert res.exit_code == 0, res.stderr
    table = res.stdout.split("\n\n")[-1]
    assert table.startswith("DISAGGREGATEDSET") and "ds/pd-rolling" in table and "ds/pd-stalled" in table
    assert "rolling" in table
    doc = json.loads(lws(demo, "list", "-o", "json").stdout)
    sets = {i["name"]: i for i in doc["items"] if i["kind"] == "DisaggregatedSetSummary"}
    assert set(sets) == {"pd-rolling", "pd-stalled"}
    children = [i for i in doc["items"] if i["kind"] == "LeaderWorkerSetSummary" and i["owner"]]
    assert {c["owner"]["name"] for c in children} == {"pd-rolling", "pd-stalled"}


def test_a_child_lws_says_who_owns_it(demo):
    doc = json.loads(lws(demo, "status", "ds/pd-stalled", "-o", "json").stdout)
    child = doc["children"][0]
    res = lws(demo, "status", child["name"])
    assert res.exit_code == 0, res.stderr
    assert (f"Owner:          owned by DisaggregatedSet pd-stalled, role {child['role']}, slice 0, revision "
            f"{child['revision']} (see: kubectl lws status ds/pd-stalled)") in res.stdout


# ---- bad input: one line, exit 2 or 1, nothing sent --------------------------------------------------------

@pytest.mark.parametrize("args, code, words", [
    (["status", "deploy/pd-stalled"], 2, '"deploy/" is not a kind kubectl lws knows'),
    (["scale", "sts/pd", "--replicas", "1", "-y"], 2, "unknown kind"),
    (["status", "pd-stalled", "--role", "decode"], 2, "--role and --slice apply to a DisaggregatedSet"),
    (["scale", "pd-stalled-0", "--role", "decode", "--replicas", "1", "-y"], 2, "apply to a DisaggregatedSet"),
    (["logs", "x", "--slice", "1"], 2, "--role and --slice apply to a DisaggregatedSet"),
])
def test_bad_input_sends_nothing(demo, args, code, words):
    sb, _ = demo
    res, reqs = requests(sb, lambda: lws(demo, *args))
    assert res.exit_code == code, res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2 and words in res.stderr  # error line (+ hint)
    assert reqs == []


@pytest.mark.parametrize("args, words", [
    (["status", "ds/pd-stalled", "--role", "router"], 'role "router" does not exist in disaggregatedset '
                                                       '"pd-stalled" (roles: prefill, decode)'),
    (["status", "ds/pd-stalled", "--slice", "3"], 'slice 3 does not exist in disaggregatedset "pd-stalled"'),
    (["scale", "ds/pd-stalled", "--role", "router", "--replicas", "2", "-y"], 'role "router" does not exist'),
    (["scale", "ds/pd-stalled", "--role", "prefill", "--replicas", "0", "-y"],
     "Static roles must all be at 0 replicas or all above 0"),
    (["scale", "ds/pd-stalled", "--slices", "0", "-y"], "--slices must be between 1 and 100"),
    (["restart", "ds/pd-stalled", "--role", "decode", "-y"], "restarting every group of a role is refused"),
    (["restart", "ds/pd-stalled", "--role", "decode", "--slice", "4", "-g", "0", "-y"], "slice 4 does not exist"),
    (["rollout", "pause", "ds/pd-stalled", "-y"], "rollout pause does not apply to a DisaggregatedSet"),
])
def test_bad_input_on_a_set_changes_nothing(demo, args, words):
    sb, _ = demo
    res, reqs = requests(sb, lambda: lws(demo, *args))
    assert res.exit_code == 2, res.stderr
    assert res.stderr.startswith("error: ") and words in res.stderr.splitlines()[0]
    assert not [r for r in reqs if r[0] not in ("GET",)]


def test_a_missing_set_suggests_close_names(demo):
    res = lws(demo, "status", "ds/pd-stall")
    assert res.exit_code == 1
    assert res.stderr.splitlines() == ['error: disaggregatedset "pd-stall" not found in namespace "pd"',
                                       'hint: did you mean "ds/pd-stalled" or "ds/pd-rolling"? (see: kubectl lws '
                                       'list)']


def test_a_cluster_without_the_crd(demo, monkeypatch):
    """An API server that does not serve disaggregatedset.x-k8s.io (LWS < v0.9): its 404 is not a Status."""
    from kubectl_lws.sandbox import resources

    for key in [k for k in resources.RESOURCES if k.endswith("." + keys.DS_GROUP)]:
        monkeypatch.delitem(resources.RESOURCES, key)
    _, kc = demo
    res = run_cli(["status", "ds/x"], kubeconfig=kc)
    assert res.exit_code == 1
    assert res.stderr.splitlines()[0] == ("error: disaggregatedset.x-k8s.io/v1 is not served by this cluster: "
                                          "the DisaggregatedSet CRD is not installed (it comes with the LWS "
                                          "controller v0.9 and later)")
    for args in (["scale", "ds/x", "--slices", "2", "-y"], ["logs", "ds/x"], ["events", "ds/x"]):
        assert run_cli(args, kubeconfig=kc).exit_code == 1, args
    listed = run_cli(["list"], kubeconfig=kc)  # the child LWS of the demo's sets are listed alone, warned once
    assert listed.exit_code == 0 and "cannot list DisaggregatedSets" in listed.stderr


# ---- changes ------------------------------------------------------------------------------------------------

def test_scale_a_static_role_and_the_slices(demo):
    sb, kc = demo
    ns = make_ds(demo, sample("grow", fresh_ns(), slices=2))
    res, reqs = requests(sb, lambda: run_cli(["scale", "ds/grow", "-n", ns, "--role", "prefill", "--replicas", "2",
                                              "--wait", "--timeout", "60s"], kubeconfig=kc))
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "disaggregatedset.disaggregatedset.x-k8s.io/grow scaled prefill to 2 per slice\n"
    assert "prefill: 1 -> 2 groups per slice (x2 slices: 2 -> 4); adds 2 groups, 2 pods" in res.stderr
    assert [p for m, p, _ in reqs if m == "PATCH"] == [f"{DS_API}/namespaces/{ns}/disaggregatedsets/grow"]
    ds = sb.get(f"{keys.DS_PLURAL}.{keys.DS_GROUP}", ns, "grow")
    assert ds["spec"]["roles"][0]["spec"]["replicas"] == 2
    refused = run_cli(["scale", "ds/grow", "-n", ns, "--slices", "1"], kubeconfig=kc)
    assert refused.exit_code == 2 and "refusing to change the cluster without confirmation" in refused.stderr
    assert "warning: a slice scale-down deletes slice 1 at once, without draining" in refused.stderr
    res = run_cli(["scale", "ds/grow", "-n", ns, "--slices", "1", "-y", "--wait", "--timeout", "60s"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(run_cli(["status", "ds/grow", "-n", ns, "-o", "json"], kubeconfig=kc).stdout)
    assert doc["slices"] == 1 and {c["slice"] for c in doc["children"]} == {0}


def test_scale_an_external_role_through_its_scaler(demo):
    sb, kc = demo
    ns = fresh_ns()
    ext = yaml.safe_load((GOLDEN / "ds" / "inputs" / "ds-ext.yaml").read_text())
    ext["metadata"]["namespace"] = ns
    make_ds(demo, ext)
    sandbox_http(sb, "POST", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "decode-load"},
        "spec": {"scaleTargetRef": {"apiVersion": "disaggregatedset.x-k8s.io/v1",
                                    "kind": "DisaggregatedSetRoleScaler", "name": "ds-ext-decode"},
                 "minReplicas": 1, "maxReplicas": 4}})
    res, reqs = requests(sb, lambda: run_cli(["scale", "ds/ds-ext", "-n", ns, "--role", "decode", "--replicas", "2",
                                              "-y"], kubeconfig=kc))
    assert res.exit_code == 0, res.stderr
    assert "warning: HorizontalPodAutoscaler decode-load targets role scaler ds-ext-decode" in res.stderr
    assert [p for m, p, _ in reqs if m == "PATCH"] == \
        [f"{DS_API}/namespaces/{ns}/disaggregatedsetrolescalers/ds-ext-decode/scale"]
    doc = wait_for(lambda: (d := json.loads(run_cli(["status", "ds/ds-ext", "-n", ns, "-o", "json"],
                                                    kubeconfig=kc).stdout))["roles"][1]["ready"] == 2 and d)
    assert doc["roles"][1]["scaler"]["name"] == "ds-ext-decode" and doc["roles"][1]["hpas"] == ["decode-load"]


def test_restart_one_group_of_a_role(demo):
    sb, kc = demo
    ns = make_ds(demo, sample("rs", fresh_ns(), decode=2))
    before = json.loads(run_cli(["status", "ds/rs", "-n", ns, "--role", "decode", "-g", "1", "-o", "json"],
                                kubeconfig=kc).stdout)["groups"][0]
    res = run_cli(["restart", "ds/rs", "-n", ns, "--role", "decode", "-g", "1", "-y", "--wait", "--timeout", "60s"],
                  kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    assert f"ds/rs: role decode, slice 0, revision {before['lwsRevision']}: child LWS {before['lws']}" in res.stderr
    assert f"group 1 restarted (leader {before['leader']} deleted)" in res.stdout
    after = json.loads(run_cli(["status", "ds/rs", "-n", ns, "--role", "decode", "-g", "1", "-o", "json"],
                               kubeconfig=kc).stdout)["groups"][0]
    assert after["pods"][0]["name"] == before["pods"][0]["name"] and after["state"] == "Ready"


def test_guard_refuses_changes_to_a_child_lws(demo):
    sb, kc = demo
    ns = make_ds(demo, sample("guarded", fresh_ns()))
    child = json.loads(run_cli(["status", "ds/guarded", "-n", ns, "-o", "json"], kubeconfig=kc).stdout)["children"]
    decode = next(c["name"] for c in child if c["role"] == "decode")
    for args, instead in (
            (["scale", decode, "--replicas", "3", "-y"], "use: kubectl lws scale ds/guarded --role decode --replicas 3"),
            (["rollout", "pause", decode, "-y"], "kubectl lws rollout status ds/guarded"),
            (["restart", decode, "--all", "-y"], "kubectl lws restart ds/guarded --role decode --slice 0 -g N")):
        res, reqs = requests(sb, lambda a=args: run_cli([*a, "-n", ns], kubeconfig=kc))
        assert res.exit_code == 1, res.stderr
        assert res.stderr.startswith(f"error: refusing to ") and instead in res.stderr
        assert "owned by DisaggregatedSet guarded, role decode, slice 0" in res.stderr
        assert not [r for r in reqs if r[0] != "GET"]
    forced = run_cli(["scale", decode, "--replicas", "2", "-y", "--force", "-n", ns], kubeconfig=kc)
    assert forced.exit_code == 0, forced.stderr
    assert "warning: --force: scale " in forced.stderr


def test_rollout_status_and_history(demo):
    sb, kc = demo
    ns = make_ds(demo, sample("roll", fresh_ns(), slices=2))
    patch = [{"op": "replace", "path": "/spec/roles/1/spec/leaderWorkerTemplate/leaderTemplate/spec/containers/0/image",
              "value": "nginx:1.27"}]
    sandbox_http(sb, "PATCH", f"{DS_API}/namespaces/{ns}/disaggregatedsets/roll", patch,
                 content_type="application/json-patch+json")
    res = run_cli(["rollout", "status", "ds/roll", "-n", ns, "--timeout", "90s"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines()[-1].startswith('disaggregatedset "roll" rolled out: revision ')
    first = json.loads(run_cli(["rollout", "history", "ds/roll", "-n", ns, "-o", "json"], kubeconfig=kc).stdout)
    assert [r["target"] for r in first["revisions"]] == [True] and first["gone"] == []
    started = [e for e in first["events"] if e["reason"] == "RollingUpdateStarted"]
    assert started and started[0]["message"].endswith(first["targetRevision"])
    patch[0]["value"] = "nginx:1.28"  # a second rollout: the first one's revision is gone, its event stays
    sandbox_http(sb, "PATCH", f"{DS_API}/namespaces/{ns}/disaggregatedsets/roll", patch,
                 content_type="application/json-patch+json")
    assert run_cli(["rollout", "status", "ds/roll", "-n", ns, "--timeout", "90s"], kubeconfig=kc).exit_code == 0
    text = run_cli(["rollout", "history", "ds/roll", "-n", ns], kubeconfig=kc)
    assert text.exit_code == 0 and text.stdout.startswith("REVISION   STATE    AGE")
    assert f"earlier revisions (from RollingUpdateStarted events, LWS deleted): {first['targetRevision']}" \
        in text.stdout


def test_rollout_status_waits_for_groups_that_are_only_loading(demo):
    """New decode pods that run but stay unready (a model loading behind its readiness probe) are waited for:
    the deadline ends it (exit 4), not a "failing" after the grace, and status ds/ says Stalled after --stuck-after."""
    sb, kc = demo
    ns = make_ds(demo, sample("loading", fresh_ns()))
    patch = [{"op": "add", "path": "/spec/roles/1/spec/leaderWorkerTemplate/leaderTemplate/metadata",
              "value": {"annotations": {"sandbox.kubectl-lws.dev/ready-after": "36000"}}}]
    sandbox_http(sb, "PATCH", f"{DS_API}/namespaces/{ns}/disaggregatedsets/loading", patch,
                 content_type="application/json-patch+json")
    wait_for(lambda: "not ready" in run_cli(["status", "ds/loading", "-n", ns], kubeconfig=kc).stdout, timeout=30)
    res = run_cli(["rollout", "status", "ds/loading", "-n", ns, "--timeout", "5s"], kubeconfig=kc)
    assert res.exit_code == 4, (res.stdout, res.stderr)
    assert "is failing" not in res.stderr and res.stdout.startswith('disaggregatedset "loading": Progressing')
    once = run_cli(["rollout", "status", "ds/loading", "-n", ns, "--watch=false"], kubeconfig=kc)
    assert once.exit_code == 3 and "is failing" not in once.stderr  # not done yet, nothing failing
    stalled = run_cli(["status", "ds/loading", "-n", ns, "--stuck-after", "1s"], kubeconfig=kc)
    assert "State:      Stalled: " in stalled.stdout and "decode" in stalled.stdout


def test_rollout_status_of_a_stalled_set_fails(demo):
    res = lws(demo, "rollout", "status", "ds/pd-stalled", "--timeout", "30s")
    assert res.exit_code == 3, res.stderr
    assert "rollout of ds/pd-stalled is failing: decode slice 0 group 0: Pending" in res.stderr
    once = lws(demo, "rollout", "status", "ds/pd-stalled", "--watch=false")
    assert once.exit_code == 3 and ("Stalled" in once.stdout or "Progressing" in once.stdout)


# ---- every role in logs, events, verify, report ----------------------------------------------------------------

def test_logs_events_verify_and_report_cover_every_role(demo, tmp_path: Path):
    logs = lws(demo, "logs", "ds/pd-rolling", "--tail", "1")
    assert logs.exit_code == 0, logs.stderr
    prefixes = {line.split(" ", 1)[0] for line in logs.stdout.splitlines()}
    assert any(p.startswith("prefill/s0/") for p in prefixes) and any(p.startswith("decode/s1/") for p in prefixes)
    events = json.loads(lws(demo, "events", "ds/pd-stalled", "-o", "json").stdout)
    assert {"prefill", "decode", None} <= {i["role"] for i in events["items"]}
    assert any(i["reason"] == "FailedScheduling" and i["role"] == "decode" for i in events["items"])
    runtime = lws(demo, "verify", "runtime", "ds/pd-rolling", "-o", "json")
    doc = json.loads(runtime.stdout)
    assert doc["disaggregatedSet"] == "pd-rolling" and {g["role"] for g in doc["groups"]} == {"prefill", "decode"}
    checks = {f["check"]: f["status"] for f in doc["disaggregation"]["findings"] if f["status"] != "PASS"}
    assert not {k: v for k, v in checks.items() if k in ("kv-connector", "kv-role", "model")}, checks
    assert {f["check"] for f in doc["disaggregation"]["findings"]} >= {"model", "kv-connector", "kv-role"}
    text = lws(demo, "verify", "runtime", "ds/pd-rolling", "--role", "prefill")
    # the decode role read from its template here: its $(LWS_GROUP_SIZE) evaluates as in its pods
    last = text.stdout.strip().splitlines()[-1]
    assert last.startswith("PASS: verify runtime ds/pd-rolling in pd: "), text.stdout[-2000:]
    out = tmp_path / "pd.zip"
    report = lws(demo, "report", "ds/pd-stalled", "--output", str(out), "--logs", "none")
    assert report.exit_code == 0, report.stderr
    names = zipfile.ZipFile(out).namelist()
    root = "pd"
    assert f"{root}/disaggregatedset.yaml" in names and f"{root}/status.json" in names
    assert any(n.startswith(f"{root}/lws/pd-stalled-0-") and n.endswith("/status.json") for n in names)
    manifest = json.loads(zipfile.ZipFile(out).read(f"{root}/manifest.json"))
    assert manifest["disaggregatedSet"]["name"] == "pd-stalled" and len(manifest["childLeaderWorkerSets"]) >= 2


def test_colour_and_hostile_text(demo):
    """Our colours reach the terminal as colours (the views write safe Styled text), a hostile image does not."""
    sb, kc = demo
    ns = fresh_ns()
    body = sample("hostile", ns)
    body["spec"]["roles"][0]["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["image"] = \
        "evil\x1b]0;owned\x07:1"
    make_ds(demo, body)
    for args in (["status", "ds/hostile"], ["list"], ["events", "ds/hostile"], ["rollout", "history", "ds/hostile"]):
        res = run_cli([*args, "-n", ns, "--color", "always"], kubeconfig=kc)
        assert res.exit_code == 0, (args, res.stderr)
        assert "\x1b]" not in res.stdout and "\x07" not in res.stdout, args
        assert "^[" not in res.stdout.replace("^[]0;owned^G", ""), args  # no colour code shown as text
    status = run_cli(["status", "ds/hostile", "-n", ns, "--color", "always"], kubeconfig=kc).stdout
    assert "\x1b[32mHealthy\x1b[0m" in status and "evil^[]0;owned^G:1" in status


# ---- record ---------------------------------------------------------------------------------------------

def test_record_a_set_keeps_each_child_lws_and_nothing_else(demo, tmp_path):
    """`record ds/NAME` selects the set's child LWS and pods by its label (so a rollout's new children join),
    writes each child in its own folder, and a group restarted through the set ends as a restart there."""
    import os
    import signal
    import subprocess
    import sys

    sb, kc = demo
    ns = make_ds(demo, sample("rec", fresh_ns(), decode=2))
    children = json.loads(run_cli(["status", "ds/rec", "-n", ns, "-o", "json"], kubeconfig=kc).stdout)["children"]
    decode = next(c["name"] for c in children if c["role"] == "decode")
    directory = tmp_path / "rec"
    sb.request_log.clear()
    env = {**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "record", "ds/rec", "-n", ns, "--dir",
                             str(directory)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (directory / "recording.json").exists() or proc.poll() is not None, timeout=30)
        assert proc.poll() is None
        time.sleep(1.0)
        recorder_reads = [(m, p, q) for m, p, q, *_ in sb.request_log.entries]
        res = run_cli(["restart", "ds/rec", "-n", ns, "--role", "decode", "-g", "1", "-y"], kubeconfig=kc)
        assert res.exit_code == 0, res.stderr
        incs = directory / ns / decode / "incarnations.ndjson"
        wait_for(lambda: (incs.exists() and incs.read_text().strip()) or proc.poll() is not None, timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"recording disaggregatedset {ns}/rec into {directory}" in err
    assert f"read them with: kubectl lws history ds/rec --dir {directory}" in err
    ended = [json.loads(line) for line in incs.read_text().splitlines()]
    assert [(i["group"], i["end"]["kind"]) for i in ended] == [(1, "restart")]
    header = json.loads((directory / "recording.json").read_text())
    assert header["scope"]["disaggregatedSet"] == "rec" and header["scope"]["roles"] == ["prefill", "decode"]
    assert sorted(p.name for p in (directory / ns).iterdir()) == sorted(c["name"] for c in children)
    watched = {unquote(q) for m, p, q in recorder_reads if m == "GET" and p in (f"/api/v1/namespaces/{ns}/pods",
                                       f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{ns}/leaderworkersets")}
    assert watched and all(f"labelSelector={keys.DS_NAME_LABEL}=rec" in q for q in watched), watched
    owner = {c["name"]: {"kind": "DisaggregatedSet", "name": "rec", "role": c["role"], "slice": c["slice"],
                         "revision": c["revision"]} for c in children}
    assert ended[0]["owner"] == owner[decode]
    # history ds/NAME: a history per child, from the recording and from the cluster
    hist = run_cli(["history", "ds/rec", "-n", ns, "--dir", str(directory), "-o", "json"], kubeconfig=kc)
    assert hist.exit_code == 0, hist.stderr
    doc = json.loads(hist.stdout)
    assert doc["kind"] == "DisaggregatedSetHistory" and doc["source"] == "recording"
    assert {c["name"]: {"kind": "DisaggregatedSet", "name": "rec", **{k: c[k] for k in ("role", "slice", "revision")}}
            for c in doc["children"]} == owner
    assert [c["role"] for c in doc["children"]] == ["prefill", "decode"]  # the set's order, kept in the header
    mine = next(c for c in doc["children"] if c["name"] == decode)
    assert [(g["group"], [i["end"]["kind"] for i in g["incarnations"] if i["end"]]) for g in mine["groups"]] \
        == [(0, []), (1, ["restart"])]
    text = run_cli(["history", "ds/rec", "-n", ns, "--dir", str(directory)], kubeconfig=kc).stdout
    assert f"slice 0, role decode, revision {owner[decode]['revision']}: child LWS {decode} (1 ended)" in text
    live = run_cli(["history", "ds/rec", "-n", ns, "-o", "json"], kubeconfig=kc)
    assert live.exit_code == 0, live.stderr
    assert [c["role"] for c in json.loads(live.stdout)["children"]] == ["prefill", "decode"]
    missing = run_cli(["history", "ds/nope", "-n", ns, "--dir", str(directory)], kubeconfig=kc)
    assert missing.exit_code == 1 and 'holds no recording of disaggregatedset "nope"' in missing.stderr
    bundle = tmp_path / "rec.zip"
    res = run_cli(["report", "ds/rec", "-n", ns, "--recording", str(directory), "--output", str(bundle)],
                  kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    with zipfile.ZipFile(bundle) as z:
        held = {n.split("/recording/", 1)[1] for n in z.namelist() if "/recording/" in n}
    assert "recording.json" in held and f"{ns}/{decode}/incarnations.ndjson" in held, held
