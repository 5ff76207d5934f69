"""Request handling details the product relies on: dryRun in DeleteOptions, streams in the request
log while they run, and a list body sent as a merge patch."""

from __future__ import annotations

import threading
import time

import pytest

from kubectl_lws import errors
from kubectl_lws.cluster import Cluster
from kubectl_lws.kubeconfig import ConnectionSettings

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "default"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


@pytest.fixture
def cluster(sandbox) -> Cluster:  # noqa: ANN001
    return Cluster(ConnectionSettings(server=sandbox.url, token=sandbox.admin_token, namespace="default"))


def test_delete_honours_dry_run_in_the_body(sandbox, cluster: Cluster) -> None:  # noqa: ANN001
    sandbox.ensure_namespace("default")
    if sandbox.get("pods", "default", "p1") is None:
        sandbox.create("pods", POD)
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"], "propagationPolicy": "Foreground"}
    cluster.request("DELETE", "/api/v1/namespaces/default/pods/p1", body=body)
    assert sandbox.get("pods", "default", "p1")["metadata"].get("deletionTimestamp") is None


def test_a_running_watch_is_already_in_the_request_log(sandbox, cluster: Cluster) -> None:  # noqa: ANN001
    sandbox.request_log.clear()
    events = cluster.watch("pods", "default", timeout_seconds=2)
    reader = threading.Thread(target=lambda: [None for _ in events], daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while sandbox.request_log.count(method="GET") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reader.is_alive()  # still streaming
    assert sandbox.request_log.count(method="GET") == 1
    reader.join(10)
    assert sandbox.request_log.count(method="GET") == 1  # logged once, not again at the end


def test_list_body_as_merge_patch_is_a_bad_request(sandbox, cluster: Cluster) -> None:  # noqa: ANN001
    sandbox.ensure_namespace("default")
    if sandbox.get("pods", "default", "p1") is None:
        sandbox.create("pods", POD)
    with pytest.raises(errors.Invalid) as info:
        cluster.request("PATCH", "/api/v1/namespaces/default/pods/p1", body=[{"op": "add"}],
                        content_type="application/merge-patch+json")
    assert info.value.code == 400
