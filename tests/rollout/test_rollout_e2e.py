"""`kubectl lws rollout` end to end: the real CLI against the sandbox over real HTTP.

Every test uses its own small LWS (2-4 groups of 2 pods) in the module's sandbox, so tests do not
depend on each other's state. Template changes (what `kubectl set image` would do) go through the
API server with a plain HTTP merge patch.
"""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest

from cliutil import run_cli, sandbox_http
from kubectl_lws.model import keys

NS = "ro"
LWS_PATH = f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{NS}/leaderworkersets"
OLD_IMAGE = "ghcr.io/example/inference:1.0"
NEW_IMAGE = "ghcr.io/example/inference:1.1"

NODES = [{"name": f"node-{i}", "labels": {"topology.kubernetes.io/zone": "z1"},
          "capacity": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8", "pods": "110"}} for i in range(4)]


def http(sb, method: str, path: str, body: object | None = None,
         content_type: str = "application/merge-patch+json") -> dict:
    """Test setup only (the product goes through Cluster): a plain admin request, merge patch by default."""
    return sandbox_http(sb, method, path, body, content_type)


def lws_manifest(name: str, *, replicas: int = 4, partition: int = 0, max_surge: int = 0,
                 labels: dict | None = None) -> dict:
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
            "spec": {"replicas": replicas,
                     "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdateConfiguration": {
                         "partition": partition, "maxSurge": max_surge, "maxUnavailable": 1}},
                     "leaderWorkerTemplate": {"size": 2, "workerTemplate": {"spec": {"containers": [
                         {"name": "main", "image": OLD_IMAGE, "resources": {"requests": {"cpu": "100m"}}}]}}}}}


@pytest.fixture(scope="module")
def env(sandbox, tmp_path_factory):
    sandbox.load_scenario({"nodes": NODES, "namespaces": [NS]})
    path = sandbox.write_kubeconfig(tmp_path_factory.mktemp("ro") / "kubeconfig", namespace=NS)
    return sandbox, path


class Cli:
    def __init__(self, sb, kubeconfig: str) -> None:
        self.sb, self.kubeconfig = sb, kubeconfig

    def __call__(self, *args: str, input: str | None = None):
        return run_cli(list(args), kubeconfig=self.kubeconfig, input=input)

    # ---- object access ----
    def create(self, manifest: dict) -> None:
        http(self.sb, "POST", LWS_PATH, manifest, "application/json")
        self.settle(manifest["metadata"]["name"])

    def lws(self, name: str) -> dict:
        return http(self.sb, "GET", f"{LWS_PATH}/{name}")

    def partition(self, name: str) -> int:
        return self.lws(name)["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"]

    def set_image(self, name: str, image: str, *, gpus: int | None = None) -> None:
        container = {"name": "main", "image": image, "resources": {"requests": {"cpu": "100m"}}}
        if gpus:
            container["resources"] = {"requests": {"nvidia.com/gpu": str(gpus)}, "limits": {"nvidia.com/gpu": str(gpus)}}
        http(self.sb, "PATCH", f"{LWS_PATH}/{name}",
             {"spec": {"leaderWorkerTemplate": {"workerTemplate": {"spec": {"containers": [container]}}}}})

    def pods(self, name: str) -> list[dict]:
        sel = f"{keys.NAME_LABEL}={name}"
        return self.sb.call(lambda: copy.deepcopy(self.sb.store.list("pods", NS, sel)))

    def images_by_group(self, name: str) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for pod in self.pods(name):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            gi = int(pod["metadata"]["labels"][keys.GROUP_INDEX_LABEL])
            out.setdefault(gi, set()).update(c["image"] for c in pod["spec"]["containers"])
        return out

    def settle(self, name: str, timeout: float = 20) -> None:
        """Wait (bounded) until the LWS's status says every group is ready and observed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = self.lws(name)
            st = obj.get("status") or {}
            if st.get("observedGeneration") == obj["metadata"]["generation"] and \
                    (st.get("readyReplicas") or 0) == obj["spec"]["replicas"]:
                return
            time.sleep(0.05)
        raise AssertionError(f"{name} did not settle")


@pytest.fixture
def cli(env) -> Cli:
    return Cli(*env)


# ---- canary, status, promote, history, undo ---------------------------------------------------------

def test_canary_one_group_then_promote_by_step_and_full(cli):
    cli.create(lws_manifest("c1"))
    res = cli("rollout", "canary", "c1", "--groups", "1", "-y")
    assert res.exit_code == 0, res.stderr
    assert "partition 0 -> 3" in res.stderr and "next template change updates groups >= 3 only" in res.stderr
    assert "c1 partition 0 -> 3" in res.stdout
    assert cli.partition("c1") == 3

    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in cli.pods("c1")}
    cli.set_image("c1", NEW_IMAGE)
    res = cli("rollout", "status", "c1", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "1 of 1 canary group updated (groups >= 3)" in res.stdout
    assert "3 held at the old revision" in res.stdout
    assert cli.images_by_group("c1") == {0: {OLD_IMAGE}, 1: {OLD_IMAGE}, 2: {OLD_IMAGE}, 3: {NEW_IMAGE}}
    after = {p["metadata"]["name"]: p["metadata"]["uid"] for p in cli.pods("c1")}
    recreated = sorted(n for n in after if after[n] != before.get(n))
    assert recreated == ["c1-3", "c1-3-1"]  # exactly the top group, whole

    res = cli("rollout", "history", "c1")
    assert res.exit_code == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["1", "2", "*"] or [r[0] for r in rows[:2]] == ["1", "2"]
    assert "deleted" in res.stderr
    hist = json.loads(cli("rollout", "history", "c1", "-o", "json").stdout)
    assert [(r["revision"], r["groups"], r["current"]) for r in hist["revisions"]] == [
        (1, [0, 1, 2], False), (2, [3], True)]

    res = cli("rollout", "promote", "c1", "--step", "2", "-y", "--wait", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "re-created now: groups 1-2" in res.stderr
    assert cli.partition("c1") == 1
    assert cli.images_by_group("c1") == {0: {OLD_IMAGE}, 1: {NEW_IMAGE}, 2: {NEW_IMAGE}, 3: {NEW_IMAGE}}

    res = cli("rollout", "promote", "c1", "--full", "-y", "--wait", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert cli.images_by_group("c1") == {i: {NEW_IMAGE} for i in range(4)}
    assert "complete" in res.stdout

    # LWS deleted the old revision once the rollout completed with partition 0: undo refuses clearly
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hist = json.loads(cli("rollout", "history", "c1", "-o", "json").stdout)
        if len(hist["revisions"]) == 1:
            break
        time.sleep(0.1)
    assert [r["revision"] for r in hist["revisions"]] == [2]
    res = cli("rollout", "undo", "c1", "-y")
    assert res.exit_code == 1
    assert "no earlier revision" in res.stderr and "deleted" in res.stderr
    res = cli("rollout", "undo", "c1", "--to-revision", "1", "-y")
    assert res.exit_code == 1 and "revision 1 of c1 no longer exists" in res.stderr
    res = cli("rollout", "promote", "c1", "--full", "-y")
    assert res.exit_code == 0 and "already fully promoted" in res.stderr


def test_undo_while_the_old_revision_exists(cli):
    cli.create(lws_manifest("u1", replicas=3))
    assert cli("rollout", "canary", "u1", "--groups", "1", "-y").exit_code == 0
    cli.set_image("u1", NEW_IMAGE)
    assert cli("rollout", "status", "u1", "--timeout", "30s").exit_code == 0
    assert cli.images_by_group("u1")[2] == {NEW_IMAGE}
    rv = cli.lws("u1")["metadata"]["resourceVersion"]
    res = cli("rollout", "undo", "u1", "--dry-run=server")
    assert res.exit_code == 0 and "(server dry run)" in res.stdout, res.stderr
    res = cli("rollout", "undo", "u1")
    assert res.exit_code == 2 and "refusing" in res.stderr
    assert cli.lws("u1")["metadata"]["resourceVersion"] == rv
    res = cli("rollout", "undo", "u1", "--to-revision", "2", "-y")
    assert res.exit_code == 0 and "already revision 2" in res.stderr
    res = cli("rollout", "undo", "u1", "-y")
    assert res.exit_code == 0, res.stderr
    assert "re-created: group 2" in res.stderr and "rolled back to revision 1" in res.stdout
    res = cli("rollout", "status", "u1", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert cli.images_by_group("u1") == {i: {OLD_IMAGE} for i in range(3)}
    spec = cli.lws("u1")["spec"]["leaderWorkerTemplate"]
    assert spec["workerTemplate"]["spec"]["containers"][0]["image"] == OLD_IMAGE


# ---- pause / resume -------------------------------------------------------------------------------

def test_pause_resume_round_trip_and_idempotence(cli):
    cli.create(lws_manifest("p1", replicas=3, partition=2))
    res = cli("rollout", "pause", "p1", "-y")
    assert res.exit_code == 0, res.stderr
    assert f"annotation {keys.PAUSED_PARTITION_ANNOTATION}=2" in res.stderr
    obj = cli.lws("p1")
    assert cli.partition("p1") == 3
    assert obj["metadata"]["annotations"][keys.PAUSED_PARTITION_ANNOTATION] == "2"
    rv = obj["metadata"]["resourceVersion"]

    res = cli("rollout", "pause", "p1", "-y")
    assert res.exit_code == 0 and "already paused" in res.stderr
    assert cli.lws("p1")["metadata"]["resourceVersion"] == rv

    status = cli("rollout", "status", "p1", "--watch=false")
    assert status.exit_code == 0 and "paused, resume restores partition 2" in status.stdout

    res = cli("rollout", "resume", "p1", "-y")
    assert res.exit_code == 0, res.stderr
    obj = cli.lws("p1")
    assert cli.partition("p1") == 2
    assert keys.PAUSED_PARTITION_ANNOTATION not in (obj["metadata"].get("annotations") or {})
    res = cli("rollout", "resume", "p1", "-y")
    assert res.exit_code == 0 and "not paused" in res.stderr


# ---- consent, dry run, refusals ----------------------------------------------------------------------

def test_refusal_without_tty_and_dry_runs_change_nothing(cli):
    cli.create(lws_manifest("d1", replicas=3))
    rv = cli.lws("d1")["metadata"]["resourceVersion"]
    res = cli("rollout", "canary", "d1", "--groups", "1")
    assert res.exit_code == 2 and "refusing" in res.stderr
    assert "partition 0 -> 2" in res.stderr  # the plan came first
    res = cli("rollout", "canary", "d1", "--groups", "1", "--dry-run")
    assert res.exit_code == 0 and "dry run (client)" in res.stderr
    res = cli("rollout", "canary", "d1", "--groups", "1", "--dry-run=server")
    assert res.exit_code == 0 and "(server dry run)" in res.stdout
    res = cli("rollout", "pause", "d1", "--dry-run=server")
    assert res.exit_code == 0
    obj = cli.lws("d1")
    assert obj["metadata"]["resourceVersion"] == rv and cli.partition("d1") == 0
    assert keys.PAUSED_PARTITION_ANNOTATION not in (obj["metadata"].get("annotations") or {})


def test_canary_argument_refusals(cli):
    cli.create(lws_manifest("r1", replicas=2))
    res = cli("rollout", "canary", "r1", "--groups", "3", "-y")
    assert res.exit_code == 2 and "more than the 2 groups" in res.stderr
    res = cli("rollout", "canary", "r1", "--groups", "-1", "-y")
    assert res.exit_code == 2
    res = cli("rollout", "canary", "r1", "--partition", "-1", "-y")
    assert res.exit_code == 2
    res = cli("rollout", "canary", "r1", "-y")
    assert res.exit_code == 2
    res = cli("rollout", "canary", "nope", "--groups", "1", "-y")
    assert res.exit_code == 1 and "not found" in res.stderr
    assert cli.partition("r1") == 0


def test_conflict_is_retried_with_a_fresh_read(cli):
    cli.create(lws_manifest("k1", replicas=2))
    cli.sb.fault("fail-requests", path=f"{LWS_PATH}/k1", status=409, count=1, method="PATCH")
    res = cli("rollout", "canary", "k1", "--groups", "1", "-y")
    assert res.exit_code == 0, res.stderr
    assert cli.partition("k1") == 1
    cli.sb.fault("fail-requests", path=f"{LWS_PATH}/k1", status=409, count=4, method="PATCH")
    res = cli("rollout", "canary", "k1", "--groups", "2", "-y")
    assert res.exit_code == 1  # 1 try + 3 retries, then the conflict is reported
    assert cli.partition("k1") == 1


def test_selector_plans_all_then_patches_each(cli):
    cli.create(lws_manifest("pd-prefill", replicas=2, labels={"pair": "pd"}))
    cli.create(lws_manifest("pd-decode", replicas=3, labels={"pair": "pd"}))
    res = cli("rollout", "canary", "-l", "pair=pd", "--groups", "1", "-y")
    assert res.exit_code == 0, res.stderr
    assert res.stderr.index("pd-decode") < res.stderr.index("pd-prefill")
    assert cli.partition("pd-prefill") == 1 and cli.partition("pd-decode") == 2
    res = cli("rollout", "promote", "-l", "pair=pd", "--full", "-y")
    assert res.exit_code == 0 and cli.partition("pd-prefill") == 0 and cli.partition("pd-decode") == 0
    res = cli("rollout", "pause", "pd-decode", "-l", "pair=pd", "-y")
    assert res.exit_code == 2


def test_hpa_is_mentioned(cli):
    cli.create(lws_manifest("h1", replicas=2))
    http(cli.sb, "POST", f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers",
         {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h1"},
          "spec": {"scaleTargetRef": {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                                      "name": "h1"}, "minReplicas": 2, "maxReplicas": 5}}, "application/json")
    res = cli("rollout", "pause", "h1", "--dry-run")
    assert res.exit_code == 0 and "HPA h1 scales this LWS (2-5 groups)" in res.stderr


# ---- status exit codes --------------------------------------------------------------------------------

def test_status_partition_above_replicas_is_done(cli):
    cli.create(lws_manifest("a1", replicas=2))
    assert cli("rollout", "canary", "a1", "--partition", "5", "-y").exit_code == 0
    cli.set_image("a1", NEW_IMAGE)
    res = cli("rollout", "status", "a1", "--timeout", "20s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "Rollout held" in res.stdout and "partition 5 >= replicas 2" in res.stdout
    assert cli.images_by_group("a1") == {0: {OLD_IMAGE}, 1: {OLD_IMAGE}}


def test_status_failing_canary_exits_3(cli):
    cli.create(lws_manifest("f1", replicas=2))
    assert cli("rollout", "canary", "f1", "--groups", "1", "-y").exit_code == 0
    cli.set_image("f1", NEW_IMAGE, gpus=64)  # no node has 64 GPUs: the canary group cannot be scheduled
    res = cli("rollout", "status", "f1", "--timeout", "30s")
    assert res.exit_code == 3, res.stdout + res.stderr
    assert "group 1" in res.stderr and "unschedulable" in res.stderr
    once = cli("rollout", "status", "f1", "--watch=false")
    assert once.exit_code == 3 and "Waiting for partitioned rollout: 0 of 1" in once.stdout


def test_status_timeout_exits_4(cli):
    cli.create(lws_manifest("t1", replicas=2))
    cli.sb.fault("pause-controller", on=True)
    try:
        cli.set_image("t1", NEW_IMAGE)
        res = cli("rollout", "status", "t1", "--timeout", "1s")
        assert res.exit_code == 4, res.stdout + res.stderr
        assert "timed out" in res.stderr and "observe generation" in res.stderr
    finally:
        cli.sb.fault("pause-controller", on=False)
    res = cli("rollout", "status", "t1", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr


def test_max_surge_full_rollout_and_canary(cli):
    cli.create(lws_manifest("s1", replicas=3, max_surge=1))
    cli.set_image("s1", NEW_IMAGE)
    res = cli("rollout", "status", "s1", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert cli.images_by_group("s1") == {i: {NEW_IMAGE} for i in range(3)}  # surge group 3 is gone

    cli.create(lws_manifest("s2", replicas=3, max_surge=1, partition=2))
    cli.set_image("s2", NEW_IMAGE)
    res = cli("rollout", "status", "s2", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "canary done" in res.stdout
    res = cli("rollout", "promote", "s2", "--full", "-y", "--wait", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert cli.images_by_group("s2") == {i: {NEW_IMAGE} for i in range(3)}


@pytest.mark.parametrize("policy", ["RecreateGroupOnPodRestart", "None"])
def test_status_crash_looping_canary_exits_3(cli, policy):
    name = "x1" if policy == "None" else "x2"
    manifest = lws_manifest(name, replicas=2)
    manifest["spec"]["leaderWorkerTemplate"]["restartPolicy"] = policy
    cli.create(manifest)
    assert cli("rollout", "canary", name, "--groups", "1", "-y").exit_code == 0
    cli.set_image(name, NEW_IMAGE)
    assert cli("rollout", "status", name, "--timeout", "30s").exit_code == 0
    # the new image crashes before it ever gets Ready (a pod name's faults outlive its incarnations)
    cli.sb.fault("fail-readiness", pod=f"{name}-1-1", namespace=NS, on=True)
    cli.sb.fault("crash", pod=f"{name}-1-1", namespace=NS, loop=True)
    try:
        res = cli("rollout", "status", name, "--timeout", "30s")
        assert res.exit_code == 3, res.stdout + res.stderr
        assert "group 1" in res.stderr
        # None keeps the pod (CrashLoopBackOff); RecreateGroupOnPodRestart shows the crash until the
        # controller re-creates the group, and then the group keeps coming back
        assert "CrashLoopBackOff" in res.stderr or ("re-created" in res.stderr and policy != "None")
        if policy == "None":  # failing from the first look: the state is printed before the verdict
            again = cli("rollout", "status", name, "--timeout", "30s")
            assert again.exit_code == 3 and "Waiting for" in again.stdout and "CrashLoopBackOff" in again.stdout
    finally:
        cli.sb.fault("stop-crash", pod=f"{name}-1-1", namespace=NS)
        cli.sb.fault("fail-readiness", pod=f"{name}-1-1", namespace=NS, on=False)


def test_status_without_statefulset_access_infers_the_revision(cli, tmp_path):
    """A user who may read LWS and pods but not StatefulSets still gets a right answer."""
    cli.create(lws_manifest("v1", replicas=2))
    assert cli("rollout", "canary", "v1", "--groups", "1", "-y").exit_code == 0
    cli.set_image("v1", NEW_IMAGE)
    cli.sb.add_token("ro-viewer", "viewer", [
        {"verbs": ["get", "list", "watch"], "resources": ["leaderworkersets", "pods"]}])
    kubeconfig = cli.sb.write_kubeconfig(tmp_path / "viewer", namespace=NS, token="ro-viewer")
    res = run_cli(["rollout", "status", "v1", "--timeout", "30s"], kubeconfig=kubeconfig)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "1 of 1 canary group updated" in res.stdout


@pytest.mark.parametrize("concurrent, changes_plan", [
    ({"metadata": {"labels": {"touched": "yes"}}}, False),  # unrelated write: same plan, retried
    ({"spec": {"replicas": 3}}, True),  # a scale between plan and patch: the plan changed, stop
])
def test_real_conflict_from_a_concurrent_writer(cli, monkeypatch, concurrent, changes_plan):
    """Another client writes the LWS after our read: the server answers a real 409 (stale
    resourceVersion); we re-read, and retry only if the plan is still the same."""
    from kubectl_lws.cluster import Cluster

    name = "w2" if changes_plan else "w1"
    cli.create(lws_manifest(name, replicas=2))
    original = Cluster.patch_lws
    calls = []

    def patch_after_a_concurrent_write(self, lws_name, patch, **kw):
        if not calls:
            http(cli.sb, "PATCH", f"{LWS_PATH}/{lws_name}", concurrent)
        calls.append(kw.get("resource_version"))
        return original(self, lws_name, patch, **kw)

    monkeypatch.setattr(Cluster, "patch_lws", patch_after_a_concurrent_write)
    res = cli("rollout", "canary", name, "--groups", "1", "-y")
    if changes_plan:
        assert res.exit_code == 1, res.stderr
        assert "the object changed while applying" in res.stderr and "partition would now go to 2" in res.stderr
        assert cli.partition(name) == 0 and len(calls) == 1
    else:
        assert res.exit_code == 0, res.stderr
        assert cli.partition(name) == 1 and len(calls) == 2 and calls[0] != calls[1]


def _watch_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "watch" in t.name and t.is_alive()}


def test_status_watch_threads_end_with_the_command(cli):
    """Done, timed out or failing: no watch thread outlives `status` (each would hold a connection
    until the server's watch timeout, minutes later)."""
    cli.create(lws_manifest("th1", replicas=2))
    before = _watch_threads()
    assert cli("rollout", "status", "th1", "--timeout", "20s").exit_code == 0
    assert _watch_threads() - before == set()
    cli.sb.fault("pause-controller", on=True)
    try:
        cli.set_image("th1", NEW_IMAGE)
        assert cli("rollout", "status", "th1", "--timeout", "1s").exit_code == 4
    finally:
        cli.sb.fault("pause-controller", on=False)
    assert _watch_threads() - before == set()


# ---- issue 16 item 1: pause holds surge too ---------------------------------------------------------

def _groups_alive(cli, name: str) -> set[int]:
    return {int(p["metadata"]["labels"][keys.GROUP_INDEX_LABEL]) for p in cli.pods(name)
            if not p["metadata"].get("deletionTimestamp")}


def test_pause_with_max_surge_starts_no_surge_group_and_resume_restores(cli):
    cli.create(lws_manifest("ps1", replicas=3, max_surge=1))
    res = cli("rollout", "pause", "ps1", "-y")
    assert res.exit_code == 0, res.stderr
    assert "maxSurge 1 -> 0" in res.stderr  # the plan says what pause changes
    assert f"annotation {keys.PAUSED_MAX_SURGE_ANNOTATION}=1" in res.stderr
    ruc = cli.lws("ps1")["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]
    assert (ruc["partition"], ruc["maxSurge"]) == (3, 0)
    cli.set_image("ps1", NEW_IMAGE)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # the controller acts within ~0.1 s at this speed
        assert _groups_alive(cli, "ps1") == {0, 1, 2}, "a surge group started while paused"
        assert cli.images_by_group("ps1") == {i: {OLD_IMAGE} for i in range(3)}
        time.sleep(0.1)
    st = cli("status", "ps1")
    assert st.exit_code == 0 and "Paused" in st.stdout and "maxSurge held at 0 (was 1)" in st.stdout

    res = cli("rollout", "resume", "ps1", "-y")
    assert res.exit_code == 0, res.stderr
    assert "maxSurge 0 -> 1" in res.stderr
    obj = cli.lws("ps1")
    ruc = obj["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]
    assert (ruc["partition"], ruc["maxSurge"]) == (0, 1)
    assert not {keys.PAUSED_PARTITION_ANNOTATION, keys.PAUSED_MAX_SURGE_ANNOTATION} & set(
        obj["metadata"].get("annotations") or {})
    res = cli("rollout", "status", "ps1", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert cli.images_by_group("ps1") == {i: {NEW_IMAGE} for i in range(3)}


def test_pause_with_max_unavailable_0_sets_it_to_1_and_resume_puts_both_back(cli):
    manifest = lws_manifest("ps2", replicas=2, max_surge=1)
    manifest["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxUnavailable"] = 0
    cli.create(manifest)
    res = cli("rollout", "pause", "ps2", "-y")
    assert res.exit_code == 0, res.stderr
    assert "maxUnavailable 0 -> 1" in res.stderr
    ruc = cli.lws("ps2")["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]
    assert (ruc["maxSurge"], ruc["maxUnavailable"]) == (0, 1)
    res = cli("rollout", "resume", "ps2", "-y")
    assert res.exit_code == 0, res.stderr
    ruc = cli.lws("ps2")["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]
    assert (ruc["partition"], ruc["maxSurge"], ruc["maxUnavailable"]) == (0, 1, 0)


def test_status_shows_a_paused_lws_with_a_surge_group(cli):
    cli.create(lws_manifest("ps3", replicas=3, max_surge=1, partition=2))
    cli.set_image("ps3", NEW_IMAGE)
    res = cli("rollout", "status", "ps3", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert 3 in _groups_alive(cli, "ps3")  # the canary's surge group
    cli.sb.fault("pause-controller", on=True)
    try:
        res = cli("rollout", "pause", "ps3", "-y")
        assert res.exit_code == 0, res.stderr
        assert "surge group 3: removed by the controller while maxSurge is 0" in res.stderr
        st = cli("status", "ps3")
        assert "Paused" in st.stdout and "surge group 3 still running" in st.stdout, st.stdout
    finally:
        cli.sb.fault("pause-controller", on=False)
    deadline = time.monotonic() + 10
    while 3 in _groups_alive(cli, "ps3") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _groups_alive(cli, "ps3") == {0, 1, 2}


def test_canary_plan_counts_the_surge_group(cli):
    cli.create(lws_manifest("ps4", replicas=4, max_surge=1))
    res = cli("rollout", "canary", "ps4", "--groups", "1", "-y")
    assert res.exit_code == 0, res.stderr
    assert "groups on the new template: 2 (1 group >= partition 3 + 1 surge group (maxSurge=1)" in res.stderr
    cli.set_image("ps4", NEW_IMAGE)
    res = cli("rollout", "status", "ps4", "--timeout", "30s")
    assert res.exit_code == 0, res.stdout + res.stderr
    on_new = [i for i, imgs in cli.images_by_group("ps4").items() if imgs == {NEW_IMAGE}]
    assert sorted(on_new) == [3, 4]  # exactly what the plan said: 2 groups


def test_pause_and_friends_on_zero_replicas_change_nothing(cli):
    cli.create(lws_manifest("z0", replicas=0, max_surge=1))
    rv = cli.lws("z0")["metadata"]["resourceVersion"]
    res = cli("rollout", "pause", "z0", "-y")
    assert res.exit_code == 0 and "no group to hold" in res.stderr, res.stderr
    res = cli("rollout", "promote", "z0", "--full", "-y")
    assert res.exit_code == 0 and "nothing to do" in res.stderr, res.stderr
    res = cli("rollout", "canary", "z0", "--groups", "0", "-y")
    assert res.exit_code == 0 and "nothing to do" in res.stderr, res.stderr
    res = cli("rollout", "resume", "z0", "-y")
    assert res.exit_code == 0 and "not paused" in res.stderr
    assert cli.lws("z0")["metadata"]["resourceVersion"] == rv
