"""Pod admission that kube-apiserver does besides the LWS webhooks: ResourceQuota and denying webhooks.

Why: the stuck groups operators ask about (issue 12) are pods that cannot be *created*: a namespace
quota of ``pods`` or ``requests.nvidia.com/gpu`` is used up, or an admission webhook (policy engine,
PodSecurity) denies the pod. The StatefulSet controller then writes ``FailedCreate`` events worded
like golden ``events/core-v1-events-ev.json``; the API server answers 403 with the same text.

``check_pod(sandbox, store, pod)`` raises :class:`ApiError` (403 Forbidden) or returns. Quota usage is
computed from the stored pods on each check (no quota controller lag); ``status.used`` is refreshed
with it so ``kubectl describe quota`` shows what the check saw.
"""
from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from . import errors

QUOTA = "resourcequotas"
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(1000),
           "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15,
           "Ki": Decimal(1024), "Mi": Decimal(1024) ** 2, "Gi": Decimal(1024) ** 3, "Ti": Decimal(1024) ** 4,
           "Pi": Decimal(1024) ** 5}
_QTY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")


def quantity(value: Any) -> Decimal:
    """A Kubernetes quantity (``500m``, ``4Gi``, ``8``) as a number; 0 when unparsable."""
    m = _QTY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        return Decimal(0)
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except InvalidOperation:
        return Decimal(0)


def _fmt(resource: str, value: Decimal) -> str:
    """How kube prints a quantity in quota messages: counts as integers, cpu in millis when fractional."""
    if value == value.to_integral_value():
        return str(int(value))
    if resource.endswith("cpu"):
        return f"{int(value * 1000)}m"
    return str(value.normalize())


def pod_usage(pod: dict) -> dict[str, Decimal]:
    """What one pod charges against a quota: ``pods``/``count/pods``, ``requests.<r>`` and ``limits.<r>``
    (a request defaults to the limit, as the API server's defaulting does for extended resources)."""
    use: dict[str, Decimal] = {"pods": Decimal(1), "count/pods": Decimal(1)}
    spec = pod.get("spec") or {}
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        requests = dict(limits)
        requests.update(res.get("requests") or {})
        for name, v in requests.items():
            use[f"requests.{name}"] = use.get(f"requests.{name}", Decimal(0)) + quantity(v)
            if name in ("cpu", "memory", "ephemeral-storage"):
                use[name] = use.get(name, Decimal(0)) + quantity(v)
        for name, v in limits.items():
            use[f"limits.{name}"] = use.get(f"limits.{name}", Decimal(0)) + quantity(v)
    return use


def _terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def namespace_usage(store: Any, namespace: str, *, skip: str | None = None) -> dict[str, Decimal]:
    used: dict[str, Decimal] = {}
    for p in store.list("pods", namespace):
        if _terminal(p) or p["metadata"]["name"] == skip:
            continue
        for k, v in pod_usage(p).items():
            used[k] = used.get(k, Decimal(0)) + v
    return used


def check_quota(store: Any, pod: dict) -> None:
    """403 ``exceeded quota: <name>, requested: ..., used: ..., limited: ...`` as kube words it."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    quotas = store.list(QUOTA, ns)
    if not quotas:
        return
    want = pod_usage(pod)
    used = namespace_usage(store, ns, skip=meta.get("name"))
    for q in sorted(quotas, key=lambda o: o["metadata"]["name"]):
        hard = (q.get("spec") or {}).get("hard") or {}
        over = []
        for res in sorted(hard):
            if res not in want or not want[res]:
                continue
            limit = quantity(hard[res])
            if used.get(res, Decimal(0)) + want[res] > limit:
                over.append(res)
        _refresh_status(store, q, used)
        if over:
            def pairs(src: dict) -> str:
                return ",".join(f"{r}={_fmt(r, src.get(r, Decimal(0)))}" for r in over)
            limited = {r: quantity(hard[r]) for r in over}
            raise errors.forbidden(f'pods "{meta.get("name", "")}" is forbidden: exceeded quota: '
                                   f"{q['metadata']['name']}, requested: {pairs(want)}, used: {pairs(used)}, "
                                   f"limited: {pairs(limited)}")


def _refresh_status(store: Any, quota: dict, used: dict[str, Decimal]) -> None:
    hard = (quota.get("spec") or {}).get("hard") or {}
    status = {"hard": dict(hard), "used": {r: _fmt(r, used.get(r, Decimal(0))) for r in hard}}
    if quota.get("status") == status:
        return
    new = copy.deepcopy(quota)
    new["status"] = status
    try:
        store.update(QUOTA, new, subresource="status")
    except Exception:  # noqa: BLE001 - status is informative only
        pass


# ---- denying admission webhooks (fault deny-pods) ----------------------------------------------------

def denials(sandbox: Any) -> list[dict]:
    """The active ``deny-pods`` rules: ``{namespace, prefix, webhook, message}``."""
    rules = getattr(sandbox, "pod_denials", None)
    if rules is None:
        rules = []
        try:
            sandbox.pod_denials = rules
        except AttributeError:
            pass
    return rules


def check_webhooks(sandbox: Any, pod: dict) -> None:
    meta = pod.get("metadata") or {}
    for rule in denials(sandbox):
        if rule.get("namespace") not in (None, "", meta.get("namespace")):
            continue
        if rule.get("prefix") and not (meta.get("name") or "").startswith(rule["prefix"]):
            continue
        raise errors.forbidden(f'admission webhook "{rule["webhook"]}" denied the request: {rule["message"]}')


def check_pod(sandbox: Any, store: Any, pod: dict) -> None:
    """kube's validating order: webhooks, then ResourceQuota (the last plugin); the first denial wins."""
    check_webhooks(sandbox, pod)
    check_quota(store, pod)
