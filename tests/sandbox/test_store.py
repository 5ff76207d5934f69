"""Store semantics: metadata, resourceVersion, generation, conflicts, deletion, the change feed."""
from __future__ import annotations

import pytest

from kubectl_lws.sandbox.errors import ApiError
from kubectl_lws.sandbox.store import Store

LWS = "leaderworkersets.leaderworkerset.x-k8s.io"


def pod(name: str, ns: str = "ns1", labels: dict | None = None, node: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": spec}


def lws(name: str, replicas: int = 2) -> dict:
    return {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": "ns1"}, "spec": {"replicas": replicas}}


@pytest.fixture
def store() -> Store:
    return Store()


def test_create_sets_server_metadata(store: Store) -> None:
    p = store.create("pods", pod("a"))
    assert p["metadata"]["uid"] and p["metadata"]["creationTimestamp"].endswith("Z")
    assert int(p["metadata"]["resourceVersion"]) == store.resource_version
    assert p["metadata"]["generation"] == 1  # pods carry generation since kube 1.34
    assert p["kind"] == "Pod" and p["apiVersion"] == "v1"
    assert store.create(LWS, lws("x"))["metadata"]["generation"] == 1


def test_create_existing_is_409_already_exists(store: Store) -> None:
    store.create(LWS, lws("x"))
    with pytest.raises(ApiError) as ei:
        store.create(LWS, lws("x"))
    assert ei.value.code == 409 and ei.value.reason == "AlreadyExists"
    assert ei.value.message == 'leaderworkersets.leaderworkerset.x-k8s.io "x" already exists'


def test_generate_name(store: Store) -> None:
    o = store.create("pods", {"metadata": {"generateName": "gen-", "namespace": "ns1"}, "spec": {}})
    assert o["metadata"]["name"].startswith("gen-") and len(o["metadata"]["name"]) == 9


def test_update_bumps_generation_only_on_spec_change(store: Store) -> None:
    o = store.create(LWS, lws("x"))
    o2 = dict(o, metadata=dict(o["metadata"], labels={"a": "b"}))
    assert store.update(LWS, o2)["metadata"]["generation"] == 1
    o3 = dict(store.get(LWS, "ns1", "x"), spec={"replicas": 5})
    assert store.update(LWS, o3)["metadata"]["generation"] == 2
    st = dict(store.get(LWS, "ns1", "x"), status={"replicas": 5}, spec={"replicas": 99})
    after = store.update(LWS, st, subresource="status")
    assert after["metadata"]["generation"] == 2 and after["spec"] == {"replicas": 5}
    assert after["status"] == {"replicas": 5}


def test_update_stale_rv_conflict_message(store: Store) -> None:
    o = store.create(LWS, lws("single"))
    store.update(LWS, dict(o, spec={"replicas": 3}))
    with pytest.raises(ApiError) as ei:
        store.update(LWS, o, expect_rv=o["metadata"]["resourceVersion"])
    assert ei.value.code == 409
    assert ei.value.status()["message"] == (
        'Operation cannot be fulfilled on leaderworkersets.leaderworkerset.x-k8s.io "single": the object has been '
        "modified; please apply your changes to the latest version and try again")


def test_stored_objects_are_not_aliased(store: Store) -> None:
    src = pod("a")
    store.create("pods", src)
    src["metadata"]["labels"]["x"] = "y"
    assert store.get("pods", "ns1", "a")["metadata"]["labels"] == {}


def test_list_selectors_and_order(store: Store) -> None:
    for n, role in [("c", "w"), ("a", "l"), ("b", "w")]:
        store.create("pods", pod(n, labels={"role": role}, node="n1" if n != "b" else None))
    store.create("pods", pod("z", ns="ns0", labels={"role": "w"}))
    assert [p["metadata"]["name"] for p in store.list("pods")] == ["z", "a", "b", "c"]
    assert [p["metadata"]["name"] for p in store.list("pods", "ns1", "role=w")] == ["b", "c"]
    assert [p["metadata"]["name"] for p in store.list("pods", "ns1", {"role": "l"})] == ["a"]
    assert [p["metadata"]["name"] for p in store.list("pods", "ns1", "role notin (w)")] == ["a"]
    assert [p["metadata"]["name"] for p in store.list("pods", None, field_selector="spec.nodeName=n1")] == ["a", "c"]
    with pytest.raises(ApiError) as ei:
        store.list(LWS, "ns1", field_selector="spec.replicas=3")
    assert ei.value.message == "field label not supported: spec.replicas"


def test_pages_follow_etcd_key_order_and_seek(store: Store) -> None:
    # etcd orders "/<ns>/<name>" as strings: "/team-a/..." sorts before "/team/..." ('-' < '/')
    for ns, name in [("team", "x"), ("team-a", "y"), ("team", "a"), ("team-a", "b")]:
        store.create("pods", pod(name, ns=ns, labels={"app": "m"} if name != "b" else {}))
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in store.list("pods")]
    assert names == [("team-a", "b"), ("team-a", "y"), ("team", "a"), ("team", "x")]
    first, unread = store.page("pods", None, "app=m", limit=1)
    assert [p["metadata"]["name"] for p in first] == ["y"] and unread == 2
    rest, unread = store.page("pods", None, "app=m", after="/team-a/y", limit=5)
    assert [p["metadata"]["name"] for p in rest] == ["a", "x"] and unread == 0
    # the key index follows creates and deletes, not just the first list
    store.create("pods", pod("m", ns="team", labels={"app": "m"}))
    store.delete("pods", "team", "a", grace_seconds=0)
    assert [p["metadata"]["name"] for p in store.page("pods", "team")[0]] == ["m", "x"]
    assert [p["metadata"]["name"] for p in store.page("pods", "team", after="/m")[0]] == ["x"]


def test_delete_background_removes_and_emits(store: Store) -> None:
    events: list[tuple[str, str]] = []
    unsub = store.subscribe(lambda t, r, o, old: events.append((t, o["metadata"]["name"])))
    store.create(LWS, lws("x"))
    store.delete(LWS, "ns1", "x")
    assert store.get(LWS, "ns1", "x") is None
    assert events == [("ADDED", "x"), ("DELETED", "x")]
    unsub()
    store.create(LWS, lws("y"))
    assert len(events) == 2


def test_delete_foreground_and_finalizer_release(store: Store) -> None:
    store.create(LWS, lws("x"))
    d = store.delete(LWS, "ns1", "x", propagation="Foreground")
    assert d["metadata"]["finalizers"] == ["foregroundDeletion"] and d["metadata"]["deletionTimestamp"]
    cur = store.get(LWS, "ns1", "x")
    released = store.update(LWS, dict(cur, metadata=dict(cur["metadata"], finalizers=[])))
    assert store.get(LWS, "ns1", "x") is None
    assert store.history[-1].type == "DELETED" and released["metadata"]["name"] == "x"


def test_pod_grace_period(store: Store) -> None:
    store.create("pods", pod("running", node="n1"))
    store.create("pods", pod("pending"))
    d = store.delete("pods", "ns1", "running")
    assert d["metadata"]["deletionGracePeriodSeconds"] == 30
    assert store.get("pods", "ns1", "running") is not None
    store.delete("pods", "ns1", "pending")
    assert store.get("pods", "ns1", "pending") is None
    store.delete("pods", "ns1", "running", grace_seconds=0)
    assert store.get("pods", "ns1", "running") is None
    assert [e.type for e in store.history][-2:] == ["MODIFIED", "DELETED"]


def test_delete_preconditions(store: Store) -> None:
    store.create("pods", pod("a"))
    with pytest.raises(ApiError) as ei:
        store.delete("pods", "ns1", "a", preconditions={"uid": "nope"})
    assert ei.value.code == 409


def test_history_and_events_since(store: Store) -> None:
    small = Store(history_size=3)
    for i in range(5):
        small.create("pods", pod(f"p{i}"))
    assert [e.obj["metadata"]["name"] for e in small.events_since(small.oldest_rv())] == ["p2", "p3", "p4"]
    assert small.events_since(small.resource_version) == []
    assert small.oldest_rv() > 1000


def test_builtin_objects_serialize_in_kube_field_order(store: Store) -> None:
    p = store.create("pods", {"spec": {}, "metadata": {"labels": {"a": "b"}, "name": "p", "namespace": "ns1"}})
    assert list(p)[:2] == ["kind", "apiVersion"]
    assert list(p["metadata"]) == ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                                   "labels"]
    upd = {"metadata": {"labels": {"a": "c"}, "name": "p", "namespace": "ns1"}, "spec": {}}
    assert list(store.update("pods", upd)["metadata"]) == list(p["metadata"])
