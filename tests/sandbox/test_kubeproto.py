"""sandbox/kubeproto: Kubernetes protobuf bodies to the JSON the store keeps. The bodies here are encoded
by Google's protobuf library from the same descriptors kubectl carries, not by our code."""
from __future__ import annotations

import pytest

from kubectl_lws.sandbox import kubeproto


def _envelope(api_version: str, kind: str, message) -> bytes:
    unknown = kubeproto._message_class("k8s.io.apimachinery.pkg.runtime.Unknown")()
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = api_version, kind
    unknown.raw = message.SerializeToString()
    return kubeproto.MAGIC + unknown.SerializeToString()


def test_pod_with_time_quantity_intorstring_and_maps():
    pod = kubeproto._message_class("k8s.io.api.core.v1.Pod")()
    pod.metadata.name = "vllm-0"
    pod.metadata.labels["leaderworkerset.sigs.k8s.io/name"] = "vllm"
    pod.metadata.creationTimestamp.seconds = 1_796_000_000
    c = pod.spec.containers.add()
    c.name, c.image = "leader", "vllm/vllm-openai:v0.8"
    c.resources.limits["nvidia.com/gpu"].string = "8"
    c.readinessProbe.handler.httpGet.port.type = 0
    c.readinessProbe.handler.httpGet.port.intVal = 8080
    c.readinessProbe.handler.httpGet.path = "/health"
    c.livenessProbe.handler.tcpSocket.port.type = 1
    c.livenessProbe.handler.tcpSocket.port.strVal = "http"
    c.livenessProbe.periodSeconds = 0  # non-pointer zero: left out
    env = c.env.add()
    env.name = "HF_TOKEN"
    env.valueFrom.secretKeyRef.localObjectReference.name = "hf"
    env.valueFrom.secretKeyRef.key = "token"
    vol = pod.spec.volumes.add()
    vol.name = "shm"
    vol.volumeSource.emptyDir.medium = "Memory"
    pod.spec.terminationGracePeriodSeconds = 0
    pod.spec.nodeName = ""
    obj = kubeproto.decode(_envelope("v1", "Pod", pod))
    assert obj["kind"] == "Pod" and obj["apiVersion"] == "v1"
    assert obj["metadata"] == {"name": "vllm-0", "labels": {"leaderworkerset.sigs.k8s.io/name": "vllm"},
                               "creationTimestamp": "2026-11-30T00:53:20Z"}
    container = obj["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "8"}}
    assert container["readinessProbe"]["httpGet"] == {"port": 8080, "path": "/health"}
    assert container["livenessProbe"] == {"tcpSocket": {"port": "http"}}  # inline handler, no periodSeconds: 0
    assert container["env"] == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]
    assert obj["spec"]["volumes"] == [{"name": "shm", "emptyDir": {"medium": "Memory"}}]
    assert obj["spec"]["terminationGracePeriodSeconds"] == 0  # a pointer set to 0: kept
    assert "nodeName" not in obj["spec"]  # an empty singular string: omitted, as in JSON


def test_secret_bytes_are_base64_and_rbac_lists_keep_empty_strings():
    secret = kubeproto._message_class("k8s.io.api.core.v1.Secret")()
    secret.metadata.name = "hf"
    secret.data["HF_TOKEN"] = b"hf_\x00\xff"
    assert kubeproto.decode(_envelope("v1", "Secret", secret))["data"] == {"HF_TOKEN": "aGZfAP8="}
    role = kubeproto._message_class("k8s.io.api.rbac.v1.Role")()
    rule = role.rules.add()
    rule.apiGroups.append("")  # the core group is an empty string in a list: it must stay
    rule.resources.append("pods")
    rule.verbs.extend(["get", "list"])
    assert kubeproto.decode(_envelope("rbac.authorization.k8s.io/v1", "Role", role))["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]


def test_microtime_and_delete_options_from_meta():
    ev = kubeproto._message_class("k8s.io.api.events.v1.Event")()
    ev.eventTime.seconds, ev.eventTime.nanos = 1_796_000_000, 123_456_000
    assert kubeproto.decode(_envelope("events.k8s.io/v1", "Event", ev))["eventTime"] == "2026-11-30T00:53:20.123456Z"
    opts = kubeproto._message_class("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")()
    opts.propagationPolicy = "Foreground"
    assert kubeproto.decode(_envelope("v1", "DeleteOptions", opts))["propagationPolicy"] == "Foreground"


@pytest.mark.parametrize("body,unsupported,words", [
    (b"{}", False, "magic"),
    (b"k8s\x00\x0a\xff\xff", False, "malformed"),
    (b"k8s\x00", False, "names no apiVersion"),
])
def test_bodies_it_cannot_read_say_why(body, unsupported, words):
    with pytest.raises(kubeproto.ProtobufError) as err:
        kubeproto.decode(body)
    assert words in str(err.value) and err.value.unsupported is unsupported


def test_a_kind_without_a_schema_is_unsupported_not_malformed():
    unknown = kubeproto._message_class("k8s.io.apimachinery.pkg.runtime.Unknown")()
    unknown.typeMeta.apiVersion, unknown.typeMeta.kind = "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"
    with pytest.raises(kubeproto.ProtobufError) as err:
        kubeproto.decode(kubeproto.MAGIC + unknown.SerializeToString())
    assert err.value.unsupported and "LeaderWorkerSet" in str(err.value)


def test_every_built_in_kind_the_sandbox_serves_has_a_schema():
    from kubectl_lws.sandbox.resources import RESOURCES

    missing = []
    for rt in RESOURCES.values():
        if rt.custom or rt.group == "apiextensions.k8s.io":  # kubectl sends JSON to CRs and CRDs
            continue
        # no typed `kubectl create` generator makes these (files go as JSON); the visibility API is
        # Kueue's own aggregated server, read-only
        if rt.group in ("storage.k8s.io", "visibility.kueue.x-k8s.io"):
            continue
        package, _ = kubeproto._package(rt.group_version)
        try:
            kubeproto._pool().FindMessageTypeByName(f"{package}.{rt.kind}")
        except KeyError:
            missing.append(f"{rt.group_version} {rt.kind}")
    assert missing == []


@pytest.mark.parametrize("ns,text", [(0, "0s"), (300_000_000, "300ms"), (1_500_000_000, "1.5s"),
                                     (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (1500, "1.5\u00b5s")])
def test_go_duration(ns, text):
    assert kubeproto.go_duration(ns) == text


def test_descriptors_are_those_kubectl_carries_where_kubectl_has_them():
    """The shipped schemas equal the ones in this machine's kubectl (when it embeds them)."""
    import gzip
    import shutil

    from google.protobuf import descriptor_pb2

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    found = kubeproto.descriptors_in_binary(open(kubectl, "rb").read())
    if "k8s.io/api/core/v1/generated.proto" not in found:
        pytest.skip("this kubectl embeds no file descriptors")
    shipped = descriptor_pb2.FileDescriptorSet.FromString(gzip.decompress(kubeproto.DESCRIPTORS.read_bytes()))
    for f in shipped.file:
        theirs = descriptor_pb2.FileDescriptorProto.FromString(found[f.name])
        assert [m.name for m in theirs.message_type] == [m.name for m in f.message_type], f.name


def test_every_inline_candidate_is_sorted_in_or_out():
    """Fields that could be Go inline embeds (non-pointer, named after their type); INLINE holds those
    that are, NAMED those whose JSON key is the field name. A refreshed descriptor set that brings a
    new candidate fails here until it is sorted."""
    named = {"k8s.io.api.authentication.v1.SelfSubjectReviewStatus.userInfo",
             "k8s.io.api.core.v1.PreferAvoidPodsEntry.podSignature",
             "k8s.io.api.core.v1.WeightedPodAffinityTerm.podAffinityTerm",
             "k8s.io.api.rbac.v1.ClusterRoleBinding.roleRef", "k8s.io.api.rbac.v1.RoleBinding.roleRef",
             "k8s.io.apimachinery.pkg.runtime.Unknown.typeMeta"}
    pool = kubeproto._pool()
    import gzip

    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet.FromString(gzip.decompress(kubeproto.DESCRIPTORS.read_bytes()))
    candidates = set()
    for f in fds.file:
        for m in f.message_type:
            desc = pool.FindMessageTypeByName(f"{f.package}.{m.name}")
            for field in desc.fields:
                if field.message_type is None or not kubeproto._value_type(field):
                    continue
                t = field.message_type.name
                if field.name in (t[0].lower() + t[1:], "handler"):
                    candidates.add(field.full_name)
    assert candidates == set(kubeproto.INLINE) | named
