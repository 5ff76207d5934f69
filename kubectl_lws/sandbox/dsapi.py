"""The DisaggregatedSet API as the LWS v0.10 install serves it: the two CRDs, their structural defaults, the
CRD schema and CEL refusals (422 Invalid) and the validating webhook ``vdisaggregatedset.kb.io`` (403
Forbidden, with admission warnings); there is no mutating DS webhook (golden README F.5).

The CRD objects are built here, slim (names, versions, subresources, printer columns, the validations this
module enforces), as ``lwssystem`` builds the LWS CRD: the package ships what it serves and nothing reads
``tests/data`` at run time. ``tests/sandbox/controllers/test_disaggregatedset_api.py`` checks every constant
below against the real CRDs in ``tests/data/lws``.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any

from kubectl_lws.model import keys as _k

from .errors import ApiError, field_invalid, forbidden, invalid
from .webhooks import intstr_errors, name_causes

GROUP = _k.DS_GROUP
WEBHOOK = "vdisaggregatedset.kb.io"
WEBHOOK_PATH = "/validate-disaggregatedset-x-k8s-io-v1-disaggregatedset"

# Schema facts of disaggregatedset.x-k8s.io_disaggregatedsets.yaml (checked by the tests)
ROLES_MIN, ROLES_MAX = 2, 10
SLICES_MIN, SLICES_MAX = 1, 100
REPLICAS_MAX = 1_000_000
ROLE_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ROLE_NAME_MAX = 63
CEL_REPLICAS_MESSAGE = ("replicas must be zero for all non-External roles or non-zero for all non-External "
                        "roles")
ENUMS: dict[tuple[str, ...], list[str]] = {
    ("scaling", "mode"): ["Static", "External"],
    ("spec", "leaderWorkerTemplate", "restartPolicy"): ["Default", "RecreateGroupOnPodRestart",
                                                        "RecreateGroupAfterStart", "None"],
    ("spec", "leaderWorkerTemplate", "subGroupPolicy", "subGroupPolicyType"): ["LeaderWorker", "LeaderExcluded"],
    ("spec", "networkConfig", "subdomainPolicy"): ["Shared", "UniquePerReplica"],
    ("spec", "rolloutStrategy", "type"): ["RollingUpdate"],
    ("spec", "startupPolicy"): ["LeaderCreated", "LeaderReady"],
}
PLACEMENT_TYPES = ["None", "ExclusiveSlice", "ExclusiveTopology"]
# CRD defaults inside a role (path relative to the role; applied only where the parent object exists)
ROLE_DEFAULTS: list[tuple[tuple[str, ...], Any]] = [
    (("scaling", "mode"), "Static"),
    (("spec", "replicas"), 1),
    (("spec", "startupPolicy"), "LeaderCreated"),
    (("spec", "leaderWorkerTemplate", "size"), 1),
    (("spec", "leaderWorkerTemplate", "restartPolicy"), "RecreateGroupOnPodRestart"),
    (("spec", "leaderWorkerTemplate", "subGroupPolicy", "subGroupPolicyType"), "LeaderWorker"),
    (("spec", "rolloutStrategy", "type"), "RollingUpdate"),
    (("spec", "rolloutStrategy", "rollingUpdateConfiguration", "maxSurge"), 0),
    (("spec", "rolloutStrategy", "rollingUpdateConfiguration", "maxUnavailable"), 1),
    (("spec", "rolloutStrategy", "rollingUpdateConfiguration", "partition"), 0),
]
DSRS_PRINTER_COLUMNS = [{"jsonPath": ".spec.replicas", "name": "Desired", "type": "integer"},
                        {"jsonPath": ".status.replicas", "name": "Current", "type": "integer"},
                        {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}]
DSRS_SCALE = {"labelSelectorPath": ".status.selector", "specReplicasPath": ".spec.replicas",
              "statusReplicasPath": ".status.replicas"}

_ROLE_NAME = re.compile(ROLE_NAME_PATTERN)


# --------------------------------------------------------------------------------------------- CRDs
def crds() -> list[dict]:
    """The DisaggregatedSet and role-scaler CRDs as ``kubectl get crd`` shows them (slim schemas)."""
    def crd(plural: str, kind: str, singular: str, short: list[str], version: dict) -> dict:
        names = {"kind": kind, "listKind": kind + "List", "plural": plural, "singular": singular}
        if short:
            names["shortNames"] = short
        return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.{GROUP}",
                             "annotations": {"controller-gen.kubebuilder.io/version": "v0.17.2"}},
                "spec": {"group": GROUP, "scope": "Namespaced", "names": names,
                         "versions": [{"name": _k.DS_VERSION, "served": True, "storage": True, **version}]},
                "status": {"acceptedNames": {"kind": kind, "listKind": kind + "List", "plural": plural,
                                             "singular": singular, **({"shortNames": short} if short else {})},
                           "storedVersions": [_k.DS_VERSION],
                           "conditions": [{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                                          {"type": "Established", "status": "True",
                                           "reason": "InitialNamesAccepted"}]}}
    ds_schema = {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "required": ["roles"],
        "x-kubernetes-validations": [{"message": CEL_REPLICAS_MESSAGE, "rule": _CEL_RULE}],
        "properties": {"slices": {"type": "integer", "format": "int32", "default": 1, "minimum": SLICES_MIN,
                                  "maximum": SLICES_MAX},
                       "placementPolicy": {"type": "object", "properties": {
                           "type": {"type": "string", "default": "None", "enum": PLACEMENT_TYPES},
                           "topology": {"type": "string"}}},
                       "roles": {"type": "array", "minItems": ROLES_MIN, "maxItems": ROLES_MAX,
                                 "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                                 "items": {"type": "object", "required": ["name"],
                                           "x-kubernetes-preserve-unknown-fields": True, "properties": {
                                               "name": {"type": "string", "maxLength": ROLE_NAME_MAX,
                                                        "pattern": ROLE_NAME_PATTERN}}}}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    dsrs_schema = {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["replicas"], "properties": {
            "replicas": {"type": "integer", "format": "int32", "default": 0, "minimum": 0}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    return [crd(_k.DS_PLURAL, _k.DS_KIND, "disaggregatedset", [],
                {"schema": {"openAPIV3Schema": ds_schema}, "subresources": {"status": {}}}),
            crd(_k.DSRS_PLURAL, _k.DSRS_KIND, "disaggregatedsetrolescaler", ["dsrs"],
                {"additionalPrinterColumns": copy.deepcopy(DSRS_PRINTER_COLUMNS),
                 "schema": {"openAPIV3Schema": dsrs_schema},
                 "subresources": {"scale": dict(DSRS_SCALE), "status": {}}})]


_CEL_RULE = ("self.roles.filter(r, !has(r.scaling) || r.scaling.mode != 'External').all(r, !has(r.spec.replicas) "
             "|| r.spec.replicas == 0) || self.roles.filter(r, !has(r.scaling) || r.scaling.mode != 'External')"
             ".all(r, has(r.spec.replicas) && r.spec.replicas > 0)")


# ----------------------------------------------------------------------------------------- helpers
def get_path(d: Any, path: tuple[str, ...]) -> Any:
    """``d[path[0]][path[1]]...`` or None where a level is missing or not an object."""
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def roles(ds: dict) -> list[dict]:
    """``spec.roles`` entries that are objects (anything else is a schema error)."""
    return [r for r in ((ds.get("spec") or {}).get("roles") or []) if isinstance(r, dict)]


def is_external(role: dict) -> bool:
    return get_path(role, ("scaling", "mode")) == "External"


def slices(ds: dict) -> int:
    v = (ds.get("spec") or {}).get("slices")
    return v if isinstance(v, int) and not isinstance(v, bool) else 1


def scaler_name(ds_name: str, role: str) -> str:
    return f"{ds_name}-{role}"


# ---------------------------------------------------------------------------------------- defaults
def _default_ports(template: Any) -> None:
    spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            for port in (c.get("ports") or []) if isinstance(c, dict) else []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def default_ds(obj: dict) -> dict:
    """The CRD's structural defaults (applied by the API server when it decodes the object)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj
    if spec.get("slices") is None:
        spec["slices"] = 1
    pp = spec.get("placementPolicy")
    if isinstance(pp, dict) and pp.get("type") is None:
        pp["type"] = "None"
    for role in roles(obj):
        for path, value in ROLE_DEFAULTS:
            parent = get_path(role, path[:-1])
            if isinstance(parent, dict) and parent.get(path[-1]) is None:
                parent[path[-1]] = value
        lwt = get_path(role, ("spec", "leaderWorkerTemplate"))
        if isinstance(lwt, dict):
            for tkey in ("leaderTemplate", "workerTemplate"):
                _default_ports(lwt.get(tkey))
    return obj


# ------------------------------------------------------------------------------ schema (422) checks
def _unsupported(field: str, value: Any, allowed: list[str]) -> dict:
    sup = ", ".join(json.dumps(a) for a in allowed)
    return {"reason": "FieldValueNotSupported", "message": f"Unsupported value: {json.dumps(value)}: supported "
                                                            f"values: {sup}", "field": field}


def _required(field: str) -> dict:
    return {"reason": "FieldValueRequired", "message": "Required value", "field": field}


def _int_range(field: str, v: Any, lo: int | None, hi: int | None) -> list[dict]:
    if not isinstance(v, int) or isinstance(v, bool):
        return []
    if lo is not None and v < lo:
        return [field_invalid(field, v, f"{field} in body should be greater than or equal to {lo}")]
    if hi is not None and v > hi:
        return [field_invalid(field, v, f"{field} in body should be less than or equal to {hi}")]
    return []


def schema_causes(obj: dict) -> list[dict]:
    """OpenAPI schema errors, then the CEL rule on ``spec``, worded as kube-apiserver words them."""
    causes = name_causes(get_path(obj, ("metadata", "name")) or "")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return causes + [_required("spec")]
    causes += _int_range("spec.slices", spec.get("slices"), SLICES_MIN, SLICES_MAX)
    pp = spec.get("placementPolicy")
    if isinstance(pp, dict) and pp.get("type") not in PLACEMENT_TYPES:
        causes.append(_unsupported("spec.placementPolicy.type", pp.get("type"), PLACEMENT_TYPES))
    items = spec.get("roles")
    if items is None:
        return causes + [_required("spec.roles")]
    if not isinstance(items, list):
        return causes + [{"reason": "FieldValueTypeInvalid", "message": f"Invalid value: \"{type(items).__name__}\""
                                                                        ": spec.roles in body must be of type array",
                          "field": "spec.roles"}]
    if len(items) < ROLES_MIN:
        causes.append(field_invalid("spec.roles", len(items), f"spec.roles in body should have at least {ROLES_MIN} "
                                                              "items"))
    if len(items) > ROLES_MAX:
        causes.append(field_invalid("spec.roles", len(items), f"spec.roles in body should have at most {ROLES_MAX} "
                                                              "items"))
    seen: set[str] = set()
    for i, role in enumerate(items):
        base = f"spec.roles[{i}]"
        if not isinstance(role, dict):
            continue
        rname = role.get("name")
        if rname is None:
            causes.append(_required(base + ".name"))
        elif isinstance(rname, str):
            if len(rname) > ROLE_NAME_MAX:
                causes.append({"reason": "FieldValueTooLong", "message": f"Too long: may not be more than "
                                                                         f"{ROLE_NAME_MAX} bytes",
                               "field": base + ".name"})
            if not _ROLE_NAME.match(rname):
                causes.append(field_invalid(base + ".name", rname,
                                            f"{base}.name in body should match '{ROLE_NAME_PATTERN}'"))
            if rname in seen:
                causes.append({"reason": "FieldValueDuplicate",
                               "message": "Duplicate value: " + json.dumps({"name": rname}, separators=(",", ":")),
                               "field": base})
            seen.add(rname)
        rspec = role.get("spec")
        if not isinstance(rspec, dict):
            causes.append(_required(base + ".spec"))
            continue
        lwt = rspec.get("leaderWorkerTemplate")
        if not isinstance(lwt, dict):
            causes.append(_required(base + ".spec.leaderWorkerTemplate"))
        elif not isinstance(lwt.get("workerTemplate"), dict):
            causes.append(_required(base + ".spec.leaderWorkerTemplate.workerTemplate"))
        causes += _int_range(base + ".spec.replicas", rspec.get("replicas"), 0, REPLICAS_MAX)
        for path, allowed in ENUMS.items():
            v = get_path(role, path)
            if v is not None and v not in allowed:
                causes.append(_unsupported(base + "." + ".".join(path), v, allowed))
    if not causes and not _cel_replicas_ok(items):
        causes.append({"reason": "FieldValueInvalid", "message": "Invalid value: " + CEL_REPLICAS_MESSAGE,
                       "field": "spec"})
    return causes


def _cel_replicas_ok(items: list) -> bool:
    """The CRD's CEL rule: Static roles are all at 0 replicas or all above 0 (External roles do not count)."""
    static = [r for r in items if isinstance(r, dict) and not is_external(r)]
    reps = [get_path(r, ("spec", "replicas")) for r in static]
    return all(not v for v in reps) or all(isinstance(v, int) and v > 0 for v in reps)


# ------------------------------------------------------------------------------ the webhook (403)
def scaled(v: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(v, str) and v.endswith("%"):
        q, r = divmod(int(v[:-1]) * total, 100)
        return q + (1 if round_up and r else 0)
    return int(v or 0)


def _rollout_errors(role: dict, base: str) -> list[str]:
    errs: list[str] = []
    ruc = get_path(role, ("spec", "rolloutStrategy", "rollingUpdateConfiguration"))
    if not isinstance(ruc, dict):
        return errs
    path = base + ".spec.rolloutStrategy.rollingUpdateConfiguration"
    part = ruc.get("partition")
    if isinstance(part, int) and part != 0:
        errs.append(f"{path}.partition: Forbidden: partition is not supported by DisaggregatedSet; rolling updates "
                    "are managed across roles by the DisaggregatedSet controller")
    replicas = get_path(role, ("spec", "replicas"))
    if not isinstance(replicas, int) or replicas == 0:
        return errs  # roles at 0 replicas are exempt, as in the LWS webhook
    mu, ms = ruc.get("maxUnavailable", 1), ruc.get("maxSurge", 0)
    field_errs = intstr_errors(path + ".maxUnavailable", mu) + intstr_errors(path + ".maxSurge", ms)
    if field_errs:
        return errs + field_errs
    if scaled(mu, replicas, False) == 0 and scaled(ms, replicas, True) == 0:
        shown = f'"{mu}"' if isinstance(mu, str) else mu
        errs.append(f"{path}.maxUnavailable: Invalid value: {shown}: must not be 0 when `maxSurge` is 0")
    return errs


def _exclusive_annotation(role: dict) -> str | None:
    keys = (_k.EXCLUSIVE_TOPOLOGY_ANNOTATION, _k.SUBGROUP_EXCLUSIVE_TOPOLOGY_ANNOTATION)
    lwt = get_path(role, ("spec", "leaderWorkerTemplate")) or {}
    places = [get_path(role, ("metadata", "annotations")), get_path(lwt, ("leaderTemplate", "metadata", "annotations")),
              get_path(lwt, ("workerTemplate", "metadata", "annotations"))]
    for key in keys:
        if any(isinstance(p, dict) and key in p for p in places):
            return key
    return None


def webhook_verdict(obj: dict) -> tuple[list[str], list[str]]:
    """(errors, warnings) of ``vdisaggregatedset.kb.io`` for a create or an update."""
    errs: list[str] = []
    warnings: list[str] = []
    name = get_path(obj, ("metadata", "name")) or ""
    external = False
    for i, role in enumerate(roles(obj)):
        base = f"spec.roles[{i}]"
        rtype = get_path(role, ("spec", "rolloutStrategy", "type"))
        if rtype not in (None, "", "RollingUpdate"):
            errs.append(f'{base}.spec.rolloutStrategy.type: Unsupported value: "{rtype}": supported values: '
                        '"RollingUpdate", ""')
        errs += _rollout_errors(role, base)
        if not is_external(role):
            continue
        external = True
        scaler = scaler_name(name, str(role.get("name")))
        if len(scaler) > 253:
            errs.append(f'{base}.name: Invalid value: "{role.get("name")}": would produce scaler name "{scaler}" '
                        "exceeding 253 characters")
        replicas = get_path(role, ("spec", "replicas"))
        if isinstance(replicas, int) and replicas > 1:
            warnings.append(f'role "{role.get("name")}" sets scaling.mode: External and spec.replicas: {replicas} '
                            f'\u2014 spec.replicas is ignored; drive replicas via DisaggregatedSetRoleScaler '
                            f'"{scaler}" instead')
    if external and slices(obj) > 1:
        errs.append("spec.slices: Forbidden: spec.slices > 1 is not supported while any role has scaling.mode: "
                    "External (alpha restriction)")
    errs += _name_length_errors(obj, name)
    pp = (obj.get("spec") or {}).get("placementPolicy")
    if isinstance(pp, dict) and pp.get("type") not in (None, "", "None"):
        if not pp.get("topology"):
            errs.append("spec.placementPolicy.topology: Required value: topology is required when type is not None")
        for i, role in enumerate(roles(obj)):
            key = _exclusive_annotation(role)
            if key:
                errs.append(f'spec.roles[{i}]: Forbidden: the "{key}" annotation must not be combined with a '
                            f"non-None spec.placementPolicy.type ({pp['type']})")
    return errs, warnings


def _name_length_errors(obj: dict, name: str) -> list[str]:
    """Generated LWS, ``-prv`` Service and worker revision-label names must fit DNS-1035's 63 characters."""
    errs = []
    digits = len(str(max(slices(obj) - 1, 0)))
    for i, role in enumerate(roles(obj)):
        rname = str(role.get("name") or "")
        lws_len = len(name) + 3 + digits + 8 + len(rname)
        replicas = get_path(role, ("spec", "replicas"))
        group_digits = len(str(replicas - 1)) if isinstance(replicas, int) and replicas > 0 else 1
        suffix = max(4, 1 + group_digits + 11)
        if lws_len + suffix > 63:
            limit = 63 - 3 - digits - 8 - suffix
            errs.append(f'spec.roles[{i}].name: Invalid value: "{rname}": the generated names ({lws_len + suffix} '
                        "chars) would exceed the DNS-1035 limit of 63 characters (accounting for service name and "
                        "StatefulSet revision hash labels); reduce the DisaggregatedSet name and/or role name "
                        f"(combined limit: {limit} characters)")
    return errs


def _denied(errs: list[str]) -> ApiError:
    msg = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
    return forbidden(f'admission webhook "{WEBHOOK}" denied the request: {msg}')


# ----------------------------------------------------------------------------------------- admission
def admit_ds(obj: dict, warn: Any = None) -> dict:
    """Default, schema-check and validate one DisaggregatedSet; ``warn(text)`` receives the webhook's
    warnings (the API server sends them as ``Warning: 299`` headers, kubectl prints them)."""
    obj = default_ds(copy.deepcopy(obj))
    causes = schema_causes(obj)
    if causes:
        raise invalid(_k.DS_KIND, get_path(obj, ("metadata", "name")) or "", causes, GROUP)
    errs, warnings = webhook_verdict(obj)
    if errs:
        raise _denied(errs)
    for w in warnings:
        if warn is not None:
            warn(w)
    return obj


def admit_dsrs(obj: dict) -> dict:
    """The role scaler has no webhook: CRD defaults (``spec.replicas: 0``) and the ``minimum: 0`` check."""
    obj = copy.deepcopy(obj)
    spec = obj.get("spec")
    if isinstance(spec, dict) and spec.get("replicas") is None:
        spec["replicas"] = 0
    causes = _int_range("spec.replicas", get_path(obj, ("spec", "replicas")), 0, None)
    if not isinstance(spec, dict):
        causes.append(_required("spec"))
    if causes:
        raise invalid(_k.DSRS_KIND, get_path(obj, ("metadata", "name")) or "", causes, GROUP)
    return obj


__all__ = ["crds", "admit_ds", "admit_dsrs", "default_ds", "schema_causes", "webhook_verdict", "roles",
           "is_external", "slices", "scaler_name", "scaled", "get_path", "WEBHOOK", "WEBHOOK_PATH"]
