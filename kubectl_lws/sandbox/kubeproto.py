"""Decode the Kubernetes protobuf request bodies kubectl sends, into the JSON objects the store keeps.

kubectl's typed clients (``create secret|configmap|deployment|quota|role|...``, ``auth can-i``,
``drain``'s evictions) always encode built-in kinds as protobuf; client-go never falls back to JSON for
them, so a server that serves those kinds must read protobuf. The wire format
(``k8s.io/apimachinery/pkg/runtime/serializer/protobuf``): the magic ``k8s\\0``, then a
``runtime.Unknown`` whose ``typeMeta`` names apiVersion and kind and whose ``raw`` is the object's own
message (``k8s.io/api/<group>/<version>/generated.proto``).

The message schemas are the protobuf file descriptors that kubectl itself carries (compiled into every
client-go binary, names, numbers and types only), saved in ``kubeproto.fds.gz`` by :func:`refresh` and
read with Google's ``protobuf`` library. The JSON produced follows Kubernetes' JSON form: ``Time`` as
RFC 3339, ``Quantity`` and ``IntOrString`` as scalars, ``bytes`` as base64, ``RawExtension`` as the
embedded object, Go's inline embeds (``Probe``'s handler, ``Volume``'s source, ``LocalObjectReference``
in key selectors) flattened into their parent. The Go encoder writes every non-pointer field, set or not;
the descriptors say which fields are non-pointers (gogo's ``nullable=false`` option), and their zero
values are left out, as ``omitempty`` leaves them out of JSON, while a pointer set to zero (``replicas:
0``, ``storageClassName: ""``) is kept.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import sys
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

MAGIC = b"k8s\x00"
DESCRIPTORS = Path(__file__).with_name("kubeproto.fds.gz")

# The proto files the sandbox needs: every built-in group it serves, and what they import.
WANTED = (
    "k8s.io/api/core/v1/generated.proto",
    "k8s.io/api/apps/v1/generated.proto",
    "k8s.io/api/rbac/v1/generated.proto",
    "k8s.io/api/authorization/v1/generated.proto",
    "k8s.io/api/authentication/v1/generated.proto",
    "k8s.io/api/autoscaling/v1/generated.proto",
    "k8s.io/api/autoscaling/v2/generated.proto",
    "k8s.io/api/events/v1/generated.proto",
    "k8s.io/api/coordination/v1/generated.proto",
    "k8s.io/api/discovery/v1/generated.proto",
    "k8s.io/api/policy/v1/generated.proto",
    "k8s.io/api/admissionregistration/v1/generated.proto",
)
_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
GOGO = "github.com/gogo/protobuf/gogoproto/gogo.proto"
_NOT_NULLABLE = b"\xc8\xde\x1f\x00"  # FieldOptions extension 65001 (gogoproto.nullable) = false
_CORE = "k8s.io.api.core.v1"
# Go structs embedded with `json:",inline"`: their fields sit in the parent's JSON object. (The descriptors
# cannot tell these from a field that merely has its type's name; tests/sandbox/test_kubeproto.py lists
# every candidate so a refresh that brings a new one fails until it is sorted in or out.)
INLINE = frozenset({
    f"{_CORE}.Probe.handler", f"{_CORE}.Volume.volumeSource", f"{_CORE}.PersistentVolumeSpec.persistentVolumeSource",
    f"{_CORE}.EphemeralContainer.ephemeralContainerCommon",
    *(f"{_CORE}.{m}.localObjectReference" for m in ("ConfigMapEnvSource", "ConfigMapKeySelector",
                                                    "ConfigMapProjection", "ConfigMapVolumeSource", "SecretEnvSource",
                                                    "SecretKeySelector", "SecretProjection")),
    "k8s.io.api.admissionregistration.v1.NamedRuleWithOperations.ruleWithOperations",
    "k8s.io.api.admissionregistration.v1.RuleWithOperations.rule",
})


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf object the sandbox can read; the message says why."""

    def __init__(self, message: str, *, unsupported: bool = False):
        super().__init__(message)
        self.unsupported = unsupported  # True: a kind without a schema here (415), else malformed (400)


def _package(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``k8s.io.api.apps.v1``, ``apps``): the proto package of a group version."""
    group, _, version = api_version.rpartition("/")
    folder = group.split(".", 1)[0] if group else "core"
    return f"k8s.io.api.{folder}.{version}", group


@lru_cache(maxsize=1)
def _pool() -> Any:
    """The descriptor pool, loaded once, dependencies first."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    fds = descriptor_pb2.FileDescriptorSet.FromString(gzip.decompress(DESCRIPTORS.read_bytes()))
    files = {f.name: f for f in fds.file}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(name: str) -> None:
        if name in added:
            return
        for dep in files[name].dependency:
            add(dep)
        pool.Add(files[name])
        added.add(name)

    for name in sorted(files):
        add(name)
    return pool


def _message_class(full_name: str) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(full_name))


def decode(raw: bytes) -> dict:
    """The JSON object of a ``k8s\\0``-framed protobuf body (apiVersion and kind from its envelope)."""
    from google.protobuf.message import DecodeError

    if not raw.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic 'k8s\\x00'")
    try:
        unknown = _message_class("k8s.io.apimachinery.pkg.runtime.Unknown").FromString(raw[len(MAGIC):])
    except DecodeError as e:
        raise ProtobufError(f"malformed protobuf envelope: {e}") from None
    api_version, kind = unknown.typeMeta.apiVersion, unknown.typeMeta.kind
    if not kind or not api_version:
        raise ProtobufError("the protobuf envelope names no apiVersion and kind")
    if unknown.contentEncoding:
        raise ProtobufError(f"content encoding {unknown.contentEncoding!r} is not supported", unsupported=True)
    package, _ = _package(api_version)
    pool = _pool()
    descriptor = None
    for candidate in (f"{package}.{kind}", f"{_META}.{kind}"):
        try:
            descriptor = pool.FindMessageTypeByName(candidate)
            break
        except KeyError:
            continue
    if descriptor is None:
        raise ProtobufError(f"no protobuf schema for {kind} {api_version} in the sandbox; send JSON or YAML "
                            "(kubectl create -f / apply -f)", unsupported=True)
    try:
        message = _message_class(descriptor.full_name).FromString(unknown.raw)
    except DecodeError as e:
        raise ProtobufError(f"malformed protobuf {kind}: {e}") from None
    obj = to_json(message)
    return {"kind": kind, "apiVersion": api_version, **obj}


def to_json(message: Any) -> Any:
    """One message in Kubernetes' JSON form (only the fields present on the wire)."""
    name = message.DESCRIPTOR.full_name
    special = _SPECIAL.get(name)
    if special is not None:
        return special(message)
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value(value_field, v) for k, v in value.items()}
        elif _repeated(field):
            out[field.name] = [_value(field, v) for v in value]
        elif field.full_name in INLINE:
            inner = to_json(value)
            if isinstance(inner, dict):
                out.update(inner)
        else:
            converted = _value(field, value)
            if converted is None or (field.message_type is None and not converted and _value_type(field)):
                continue  # a non-pointer field's zero value: JSON's omitempty leaves it out
            out[field.name] = converted
    return out


def _value_type(field: Any) -> bool:
    """A Go non-pointer field (gogo ``nullable=false``): its zero value means "not set"."""
    return _NOT_NULLABLE in field.GetOptions().SerializeToString()


def _repeated(field: Any) -> bool:
    """``is_repeated`` on protobuf >= 5.28 (7.x has no ``label``), ``label`` before."""
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == field.LABEL_REPEATED


def _value(field: Any, value: Any) -> Any:
    if field.message_type is not None:
        return to_json(value)
    if field.type == field.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _time(message: Any, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str | None:
    if not message.seconds and not message.nanos:
        return None  # the zero time: JSON null, left out
    when = datetime.fromtimestamp(message.seconds, tz=timezone.utc)
    if "%f" in fmt:
        when = when.replace(microsecond=message.nanos // 1000)
    return when.strftime(fmt)


def _int_or_string(message: Any) -> int | str:
    return message.strVal if message.type == 1 else message.intVal


def _raw_json(message: Any) -> Any:
    raw = bytes(getattr(message, "raw", b"") or getattr(message, "Raw", b""))
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return base64.b64encode(raw).decode("ascii")


def go_duration(nanoseconds: int) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``1h0m0s``, ``1.5s``, ``300ms``)."""
    if nanoseconds == 0:
        return "0s"
    sign, n = ("-", -nanoseconds) if nanoseconds < 0 else ("", nanoseconds)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if n >= size:
                text = f"{n / size:.9f}".rstrip("0").rstrip(".")
                return f"{sign}{text}{unit}"
    seconds = n / 1e9
    hours, rest = divmod(int(n // 1_000_000_000), 3600)
    minutes = rest // 60
    secs = seconds - hours * 3600 - minutes * 60
    text = f"{secs:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{text}s"
    if minutes:
        return f"{sign}{minutes}m{text}s"
    return f"{sign}{text}s"


_SPECIAL = {
    f"{_META}.Time": _time,
    f"{_META}.MicroTime": lambda m: _time(m, "%Y-%m-%dT%H:%M:%S.%fZ"),
    f"{_META}.Duration": lambda m: go_duration(m.duration),
    f"{_META}.FieldsV1": _raw_json,
    "k8s.io.apimachinery.pkg.api.resource.Quantity": lambda m: getattr(m, "string"),
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "k8s.io.apimachinery.pkg.runtime.RawExtension": _raw_json,
}


# --- refreshing the descriptors from a kubectl binary (developers only) -----------------------------

def descriptors_in_binary(binary: bytes) -> dict[str, bytes]:
    """Every gzipped FileDescriptorProto a Go binary built with client-go embeds, by file name."""
    import zlib

    from google.protobuf import descriptor_pb2

    found: dict[str, bytes] = {}
    for match in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00", binary):
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(binary[match.start():match.start() + 4_000_000])
            proto = descriptor_pb2.FileDescriptorProto.FromString(data)
        except Exception:  # noqa: BLE001 - most gzip magics in a binary are not descriptors
            continue
        if proto.name.endswith("generated.proto") and proto.package.startswith("k8s.io."):
            found[proto.name] = proto.SerializeToString()
    return found


def refresh(kubectl: str = "/usr/bin/kubectl", out: Path = DESCRIPTORS) -> list[str]:
    """Write ``kubeproto.fds.gz``: the WANTED files and their imports, from a kubectl binary."""
    from google.protobuf import descriptor_pb2

    available = descriptors_in_binary(Path(kubectl).read_bytes())
    chosen: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    todo = list(WANTED)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        if name not in available:
            raise SystemExit(f"{kubectl} carries no descriptor for {name}")
        proto = descriptor_pb2.FileDescriptorProto.FromString(available[name])
        proto.ClearField("source_code_info")
        # gogo.proto only defines Go code-generation options; the schemas do not need it
        deps = [d for d in proto.dependency if d != GOGO]
        del proto.dependency[:]
        proto.dependency.extend(deps)
        chosen[name] = proto
        todo.extend(proto.dependency)
    fds = descriptor_pb2.FileDescriptorSet(file=[chosen[n] for n in sorted(chosen)])
    out.write_bytes(gzip.compress(fds.SerializeToString(), mtime=0))
    return sorted(chosen)


if __name__ == "__main__":  # python -m kubectl_lws.sandbox.kubeproto [/path/to/kubectl]
    print("\n".join(refresh(*sys.argv[1:2])))
