"""Admission for the sandbox: the LWS mutating/validating webhooks, the LWS CRD schema checks and the LWS
pod webhook (``mpod.kb.io``).

The order mirrors kube-apiserver: mutating webhook (decode errors are 400 without a reason), defaulting,
CRD-schema / name validation (422 Invalid with causes), then the validating webhook (403 Forbidden, per
golden D6). Messages are the recorded ones in ``shared/golden/http/errors``.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from .errors import ApiError, field_invalid, forbidden, invalid, warn
from .resources import DS as DS_RESOURCE, DSRS as DSRS_RESOURCE

from kubectl_lws.model import keys as _k

LWS_RESOURCE = f"{_k.LWS_PLURAL}.{_k.LWS_GROUP}"
GROUP = _k.LWS_GROUP

# label / annotation keys (reference §5): the product's one spelling of each, under short local names
NAME = _k.NAME_LABEL
GROUP_INDEX = _k.GROUP_INDEX_LABEL
WORKER_INDEX = _k.WORKER_INDEX_LABEL
GROUP_KEY = _k.GROUP_KEY_LABEL
REVISION = _k.REVISION_LABEL
SUBGROUP_INDEX = _k.SUBGROUP_INDEX_LABEL
SUBGROUP_KEY = _k.SUBGROUP_KEY_LABEL
SIZE = _k.SIZE_ANNOTATION
REPLICAS = _k.REPLICAS_ANNOTATION
LEADER_NAME = _k.LEADER_NAME_ANNOTATION
EXCLUSIVE = _k.EXCLUSIVE_TOPOLOGY_ANNOTATION
SUBGROUP_EXCLUSIVE = _k.SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION
SUBGROUP_SIZE = _k.SUBGROUP_SIZE_ANNOTATION
SUBGROUP_POLICY_TYPE = _k.SUBGROUP_POLICY_TYPE_ANNOTATION
SUBDOMAIN_POLICY = _k.SUBDOMAIN_POLICY_ANNOTATION
LEADER_REQUESTS_TPUS = _k.LEADER_REQUESTS_TPUS_ANNOTATION
TPU = "google.com/tpu"

_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PERCENT = re.compile(r"^(\d+)%$")

_ENUMS = {
    ("leaderWorkerTemplate", "restartPolicy"): ["Default", "RecreateGroupOnPodRestart", "RecreateGroupAfterStart",
                                                 "None"],
    ("leaderWorkerTemplate", "subGroupPolicy", "subGroupPolicyType"): ["LeaderWorker", "LeaderExcluded"],
    ("networkConfig", "subdomainPolicy"): ["Shared", "UniquePerReplica"],
    ("rolloutStrategy", "type"): ["RollingUpdate"],
    ("startupPolicy",): ["LeaderCreated", "LeaderReady"],
}
# int32 fields and the Go struct that decodes them: the mutating webhook's 400 message names both.
_INT_FIELDS = {
    ("replicas",): "LeaderWorkerSetSpec",
    ("leaderWorkerTemplate", "size"): "LeaderWorkerTemplate",
    ("leaderWorkerTemplate", "subGroupPolicy", "subGroupSize"): "SubGroupPolicy",
    ("rolloutStrategy", "rollingUpdateConfiguration", "partition"): "RollingUpdateConfiguration",
}


def sha1_hex(text: str) -> str:
    """group-key / subgroup-key: SHA-1 hex of a plain string (reference §5)."""
    return hashlib.sha1(text.encode()).hexdigest()


_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def safe_hash(obj: Any) -> str:
    """FNV-32a over canonical JSON, rendered like apimachinery's SafeEncodeString of the decimal value: a
    deterministic short key in the same alphabet as real revision hashes (not bit-identical to Go's)."""
    h = 0x811C9DC5
    for b in json.dumps(obj, sort_keys=True, separators=(",", ":")).encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(h))


def _get(d: dict | None, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "number"


def _mutating_denied(msg: str) -> ApiError:
    return ApiError(400, None, f'admission webhook "mleaderworkerset.kb.io" denied the request: {msg}')


def _validating_denied(errs: list[str]) -> ApiError:
    msg = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
    return forbidden(f'admission webhook "vleaderworkerset.kb.io" denied the request: {msg}')


# --------------------------------------------------------------------------------------------- LWS
def _decode_check(spec: dict) -> None:
    """What Go's json decoder in the mutating webhook rejects: non-integers in int32 fields."""
    for path, struct in _INT_FIELDS.items():
        v = _get(spec, path)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            kind = _go_type(v)
            if isinstance(v, float):
                kind = "number " + repr(v)
            raise _mutating_denied(f"json: cannot unmarshal {kind} into Go struct field {struct}.spec."
                                   f"{'.'.join(path)} of type int32")
    ruc = _get(spec, ("rolloutStrategy", "rollingUpdateConfiguration")) or {}
    for key in ("maxUnavailable", "maxSurge"):
        v = ruc.get(key)
        if v is not None and not isinstance(v, (int, str)) or isinstance(v, bool):
            raise _mutating_denied(f"json: cannot unmarshal {_go_type(v)} into Go struct field "
                                   f"RollingUpdateConfiguration.spec.rolloutStrategy.rollingUpdateConfiguration."
                                   f"{key} of type intstr.IntOrString")


def default_lws(obj: dict) -> dict:
    """CRD + webhook defaults (golden B.2); ``networkConfig: null`` is re-defaulted to Shared (D3)."""
    spec = obj.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("startupPolicy") is None:
        spec["startupPolicy"] = "LeaderCreated"
    lwt = spec.get("leaderWorkerTemplate")
    if isinstance(lwt, dict):
        if lwt.get("size") is None:
            lwt["size"] = 1
        if lwt.get("restartPolicy") in (None, ""):
            lwt["restartPolicy"] = "RecreateGroupOnPodRestart"
        elif lwt["restartPolicy"] == "Default":
            lwt["restartPolicy"] = "None"
        for tkey in ("leaderTemplate", "workerTemplate"):
            tpl = lwt.get(tkey)
            if isinstance(tpl, dict):
                # the Go webhook round-trip always writes template metadata; the CRD defaults port protocol
                tpl.setdefault("metadata", {})
                tspec = tpl.get("spec") or {}
                for c in (tspec.get("containers") or []) + (tspec.get("initContainers") or []):
                    for port in c.get("ports") or []:
                        port.setdefault("protocol", "TCP")
        sgp = lwt.get("subGroupPolicy")
        if isinstance(sgp, dict) and sgp.get("subGroupPolicyType") is None:
            sgp["subGroupPolicyType"] = "LeaderWorker"
        if sgp is None and "subGroupPolicy" in lwt:
            del lwt["subGroupPolicy"]
    rs = spec.get("rolloutStrategy")
    if not isinstance(rs, dict):
        rs = spec["rolloutStrategy"] = {}
    if rs.get("type") is None:
        rs["type"] = "RollingUpdate"
    ruc = rs.get("rollingUpdateConfiguration")
    if not isinstance(ruc, dict):
        ruc = rs["rollingUpdateConfiguration"] = {}
    for k, v in (("maxSurge", 0), ("maxUnavailable", 1), ("partition", 0)):
        if ruc.get(k) is None:
            ruc[k] = v
    nc = spec.get("networkConfig")
    if not isinstance(nc, dict) or nc.get("subdomainPolicy") is None:
        spec["networkConfig"] = {"subdomainPolicy": "Shared"}
    return obj


def name_causes(name: str) -> list[dict]:
    """The apiserver's check of a custom resource's name (a DNS-1123 subdomain; 422)."""
    if not name or _DNS1123_SUB.match(name):
        return []
    return [field_invalid("metadata.name", name,
                          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                          "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                          "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]


def _schema_causes(obj: dict) -> list[dict]:
    """The CRD structural checks and apiserver name check that answer 422."""
    causes: list[dict] = []
    name = _get(obj, ("metadata", "name")) or ""
    causes += name_causes(name)
    spec = obj.get("spec") or {}
    if not isinstance(spec.get("leaderWorkerTemplate"), dict):
        causes.append({"reason": "FieldValueRequired", "message": "Required value",
                       "field": "spec.leaderWorkerTemplate"})
    elif not isinstance(spec["leaderWorkerTemplate"].get("workerTemplate"), dict):
        causes.append({"reason": "FieldValueRequired", "message": "Required value",
                       "field": "spec.leaderWorkerTemplate.workerTemplate"})
    r = spec.get("replicas")
    if isinstance(r, int):
        if r > 1000000:
            causes.append(field_invalid("spec.replicas", r, "spec.replicas in body should be less than or equal "
                                                            "to 1000000"))
        if r < 0:
            causes.append(field_invalid("spec.replicas", r, "spec.replicas in body should be greater than or "
                                                            "equal to 0"))
    for path, allowed in _ENUMS.items():
        v = _get(spec, path)
        if v is not None and v not in allowed:
            sup = ", ".join(json.dumps(a) for a in allowed)
            causes.append({"reason": "FieldValueNotSupported",
                           "message": f"Unsupported value: {json.dumps(v)}: supported values: {sup}",
                           "field": "spec." + ".".join(path)})
    return causes


def intstr_errors(field: str, v: Any) -> list[str]:
    """The webhooks' int-or-percent checks (a percent string, at most 100%, not negative)."""
    if isinstance(v, str):
        m = _PERCENT.match(v)
        if not m:
            return [f'{field}: Invalid value: "{v}": a valid percent string must be a numeric string followed by '
                    f"an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]
        if int(m.group(1)) > 100:
            return [f'{field}: Invalid value: "{v}": must not be greater than 100%']
        return []
    if v < 0:
        return [f"{field}: Invalid value: {v}: must be greater than or equal to 0"]
    return []


def _intstr_value(v: Any, total: int, round_up: bool) -> int:
    if isinstance(v, str):
        pct = int(v.rstrip("%"))
        q, r = divmod(pct * total, 100)
        return q + (1 if round_up and r else 0)
    return int(v)


def _webhook_errors(obj: dict, old: dict | None) -> list[str]:
    """The validating webhook (vleaderworkerset.kb.io) rules; each string is ``field: Invalid value: ...``."""
    errs: list[str] = []
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if old is None and name and not _DNS1035.match(name):
        errs.append(f'metadata.name: Invalid value: "{name}": a DNS-1035 label must consist of lower case '
                    "alphanumeric characters or '-', start with an alphabetic character, and end with an "
                    "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                    "'[a-z]([-a-z0-9]*[a-z0-9])?')")
    spec = obj.get("spec") or {}
    lwt = spec.get("leaderWorkerTemplate") or {}
    replicas = int(spec.get("replicas") or 0)
    size = int(lwt.get("size") if lwt.get("size") is not None else 1)
    if size < 1:
        errs.append(f"spec.leaderWorkerTemplate.size: Invalid value: {size}: size must be equal or greater than 1")
    if replicas < 0 or replicas > 1000000:
        errs.append(f"spec.replicas: Invalid value: {replicas}: replicas must be between 0 and 1000000")
    elif size >= 1 and replicas * size > 2**31 - 1:
        errs.append(f"spec.replicas: Invalid value: {replicas}: the product of replicas and worker replicas must "
                    f"not exceed {2**31 - 1}")
    ruc = _get(spec, ("rolloutStrategy", "rollingUpdateConfiguration")) or {}
    base = "spec.rolloutStrategy.rollingUpdateConfiguration."
    part = ruc.get("partition")
    if isinstance(part, int) and part < 0:
        errs.append(f"{base}partition: Invalid value: {part}: must be greater than or equal to 0")
    mu, ms = ruc.get("maxUnavailable", 1), ruc.get("maxSurge", 0)
    mu_errs, ms_errs = intstr_errors(base + "maxUnavailable", mu), intstr_errors(base + "maxSurge", ms)
    errs += mu_errs + ms_errs
    if not mu_errs and not ms_errs:
        mu_v = _intstr_value(mu, replicas, False)
        ms_v = _intstr_value(ms, replicas, True)
        if mu_v == 0 and ms_v == 0 and replicas != 0:
            shown = f'"{mu}"' if isinstance(mu, str) else mu
            errs.append(f"{base}maxUnavailable: Invalid value: {shown}: must not be 0 when `maxSurge` is 0")
    sgp = lwt.get("subGroupPolicy")
    annotations = meta.get("annotations") or {}
    sg_field = "spec.leaderWorkerTemplate.SubGroupPolicy.subGroupSize"
    if isinstance(sgp, dict) and sgp.get("subGroupSize") is not None:
        g = int(sgp["subGroupSize"])
        if g < 1:
            errs.append(f"{sg_field}: Invalid value: {g}: subGroupSize must be equal or greater than 1")
        elif g > size:
            errs.append(f"{sg_field}: Invalid value: {g}: subGroupSize cannot be larger than size")
        elif sgp.get("subGroupPolicyType") == "LeaderExcluded":
            if (size - 1) % g != 0:
                errs.append(f"{sg_field}: Invalid value: {g}: size-1 must be divisible by subGroupSize when using "
                            "LeaderExcluded")
        elif size % g != 0 and (size - 1) % g != 0:
            errs.append(f"{sg_field}: Invalid value: {g}: size or size - 1 must be divisible by subGroupSize")
    elif SUBGROUP_EXCLUSIVE in annotations:
        errs.append(f"metadata.annotations.{SUBGROUP_EXCLUSIVE}: Invalid value: "
                    f'"{annotations[SUBGROUP_EXCLUSIVE]}": cannot have subgroup-exclusive-topology without '
                    "subGroupSize set")
    if old is not None:
        old_sgp = _get(old, ("spec", "leaderWorkerTemplate", "subGroupPolicy"))
        old_g = (old_sgp or {}).get("subGroupSize") if isinstance(old_sgp, dict) else None
        new_g = sgp.get("subGroupSize") if isinstance(sgp, dict) else None
        if old_g is not None and new_g is None:
            errs.append(f"{sg_field}: Invalid value: {old_g}: cannot remove subGroupSize after enabled")
        elif old_g is not None and new_g != old_g:
            errs.append(f"{sg_field}: Invalid value: {new_g}: field is immutable")
        elif old_g is None and new_g is not None:
            errs.append(f"{sg_field}: Invalid value: {new_g}: cannot enable subGroupSize after creation")
    return errs


def admit_lws(operation: str, obj: dict, old: dict | None) -> dict:
    """Mutate, schema-check and validate one LeaderWorkerSet; returns the object to store."""
    obj = copy.deepcopy(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _decode_check(spec)
    default_lws(obj)
    causes = _schema_causes(obj)
    if causes:
        raise invalid("LeaderWorkerSet", _get(obj, ("metadata", "name")) or "", causes, GROUP)
    errs = _webhook_errors(obj, old if operation == "UPDATE" else None)
    if errs:
        raise _validating_denied(errs)
    return obj


# --------------------------------------------------------------------------------------------- pods
def _ordinal(name: str) -> int | None:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def subgroup_index(size: int, g: int, worker_index: int) -> int:
    """Reference §8.8: the leader is an extra member of subgroup 0 when (S-1)%g==0 and S%g!=0."""
    if (size - 1) % g == 0 and size % g != 0:
        return 0 if worker_index == 0 else (worker_index - 1) // g
    return worker_index // g


def _requests_tpu(container: dict) -> bool:
    res = container.get("resources") or {}
    return TPU in (res.get("limits") or {}) or TPU in (res.get("requests") or {})


def _affinity_pair(pod_spec: dict, key_label: str, key_value: str, topology_key: str) -> None:
    """Required pod affinity to own key + anti-affinity to any other key, once per topology key (§8.7)."""
    aff = pod_spec.setdefault("affinity", {})
    pa = aff.setdefault("podAffinity", {}).setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])
    if not any(t.get("topologyKey") == topology_key for t in pa):
        pa.append({"labelSelector": {"matchExpressions": [
            {"key": key_label, "operator": "In", "values": [key_value]}]}, "topologyKey": topology_key})
    paa = aff.setdefault("podAntiAffinity", {}).setdefault("requiredDuringSchedulingIgnoredDuringExecution", [])
    if not any(t.get("topologyKey") == topology_key for t in paa):
        paa.append({"labelSelector": {"matchExpressions": [
            {"key": key_label, "operator": "Exists"},
            {"key": key_label, "operator": "NotIn", "values": [key_value]}]}, "topologyKey": topology_key})


def _inject_env(container: dict, lws_env: list[dict]) -> None:
    names = {e["name"] for e in lws_env}
    user = [e for e in container.get("env") or [] if e.get("name") not in names]
    container["env"] = [dict(e) for e in lws_env] + user


def _tpu_env(pod: dict, lws_name: str, group_index: str, size: int, worker_index: int) -> None:
    """TPU variables for containers that request google.com/tpu (reference §6), subgroups ignored."""
    spec = pod["spec"]
    containers = [c for c in (spec.get("initContainers") or []) + (spec.get("containers") or []) if _requests_tpu(c)]
    if not containers:
        return
    annotations = pod["metadata"].get("annotations") or {}
    leader_has_tpu = worker_index == 0 or annotations.get(LEADER_REQUESTS_TPUS) == "true"
    subdomain = spec.get("subdomain") or lws_name
    leader = f"{lws_name}-{group_index}"
    hosts = ([leader] if leader_has_tpu else []) + [f"{leader}-{j}" for j in range(1, size)]
    n = len(containers)
    hostnames = [f"{h}.{subdomain}" for h in hosts for _ in range(n)]
    pod_index = worker_index if leader_has_tpu else worker_index - 1
    for ci, c in enumerate(containers):
        env = c.setdefault("env", [])
        if any(e.get("name") in ("TPU_WORKER_HOSTNAMES", "TPU_WORKER_ID") for e in env):
            continue
        port = 8476 + ci
        env += [{"name": "TPU_WORKER_HOSTNAMES", "value": ",".join(hostnames)},
                {"name": "TPU_WORKER_ID", "value": str(pod_index * n + ci)},
                {"name": "TPU_NAME", "value": leader},
                {"name": "TPU_PROCESS_ADDRESSES", "value": ",".join(f"{h}:{port}" for h in hostnames)}]
        if not any(e.get("name") == "TPU_PROCESS_PORT" for e in env):
            env.append({"name": "TPU_PROCESS_PORT", "value": str(port)})


def admit_pod(pod: dict, *, in_place: bool = False) -> dict:
    """The LWS pod mutating webhook (CREATE only): labels, subdomain, affinity, TPU vars, LWS env (§5-§8).
    ``in_place`` skips the defensive copy for callers that built the pod themselves (the STS controller)."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if NAME not in labels:
        return pod
    if not in_place:
        pod = copy.deepcopy(pod)
    meta = pod["metadata"]
    labels = meta.setdefault("labels", {})
    annotations = meta.setdefault("annotations", {})
    spec = pod.setdefault("spec", {})
    ns = meta.get("namespace") or "default"
    name = meta.get("name") or ""
    lws_name = labels[NAME]
    is_leader = labels.get(WORKER_INDEX) == "0" and LEADER_NAME not in annotations
    size = int(annotations.get(SIZE) or 1)
    if is_leader:
        group_index = _ordinal(name)
        labels[GROUP_INDEX] = str(group_index)
        labels[GROUP_KEY] = sha1_hex(f"{ns}/{name}")
        worker_index, leader_name = 0, name
        if annotations.get(SUBDOMAIN_POLICY) == "UniquePerReplica":
            spec["subdomain"] = name
    else:
        pod_index = labels.get("apps.kubernetes.io/pod-index")
        worker_index = int(pod_index) if pod_index is not None else (_ordinal(name) or 0)
        labels[WORKER_INDEX] = str(worker_index)
        leader_name = annotations.get(LEADER_NAME) or name.rsplit("-", 1)[0]
    group_index_s = labels.get(GROUP_INDEX, "0")
    if SUBGROUP_SIZE in annotations:
        g = int(annotations[SUBGROUP_SIZE])
        excluded = annotations.get(SUBGROUP_POLICY_TYPE) == "LeaderExcluded"
        if not (is_leader and excluded):
            idx = subgroup_index(size, g, worker_index) if not excluded else (worker_index - 1) // g
            labels[SUBGROUP_INDEX] = str(idx)
            labels[SUBGROUP_KEY] = sha1_hex(f"{leader_name}/{idx}")
            if SUBGROUP_EXCLUSIVE in annotations:
                _affinity_pair(spec, SUBGROUP_KEY, labels[SUBGROUP_KEY], annotations[SUBGROUP_EXCLUSIVE])
    if is_leader and EXCLUSIVE in annotations:
        _affinity_pair(spec, GROUP_KEY, labels[GROUP_KEY], annotations[EXCLUSIVE])
    _tpu_env(pod, lws_name, group_index_s, size, worker_index)
    subdomain = spec.get("subdomain") or lws_name
    lws_env = [{"name": "LWS_LEADER_ADDRESS", "value": f"{lws_name}-{group_index_s}.{subdomain}.{ns}"},
               {"name": "LWS_GROUP_SIZE", "value": str(size)},
               {"name": "LWS_WORKER_INDEX", "value": str(worker_index)}]
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        _inject_env(c, lws_env)
    return pod


def admit(sandbox: Any, operation: str, resource: str, obj: dict, old: dict | None) -> dict:
    """Entry point for the API server and the controllers; returns the (possibly mutated) object or raises
    ``ApiError``. Unknown resources pass through untouched."""
    if resource == LWS_RESOURCE and operation in ("CREATE", "UPDATE"):
        obj = admit_lws(operation, obj, old)
    elif resource == DS_RESOURCE and operation in ("CREATE", "UPDATE"):
        from . import dsapi  # noqa: PLC0415 - dsapi reuses this module's checks
        obj = dsapi.admit_ds(obj, warn)
    elif resource == DSRS_RESOURCE and operation in ("CREATE", "UPDATE"):
        from . import dsapi  # noqa: PLC0415
        obj = dsapi.admit_dsrs(obj)
    elif resource == "pods" and operation == "CREATE":
        obj = admit_pod(obj)
    return run_plugins(sandbox, operation, resource, obj, old)


def run_plugins(sandbox: Any, operation: str, resource: str, obj: dict, old: dict | None) -> dict:
    """The add-ons' webhooks (Kueue's), after LWS's own, in the order they were installed."""
    for plugin in getattr(sandbox, "admission_plugins", ()):
        obj = plugin(operation, resource, obj, old)
    return obj
