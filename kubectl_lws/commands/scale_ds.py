"""``kubectl lws scale ds/NAME --role R --replicas N`` and ``--slices N``.

A Static role's count is the DisaggregatedSet's ``spec.roles[i].spec.replicas``: one JSON patch, conditional on
the resourceVersion the plan was made from (and on the role still being at that index). An External role's
count is its role scaler's: ``/scale`` as ``kubectl scale dsrs/...`` does (GET, then a PATCH carrying the
scale's resourceVersion). ``--slices`` patches ``spec.slices``. Plan first (stderr), consent for anything that
removes groups, ``--dry-run``, optimistic concurrency: the shape of ``scale`` for an LWS.
"""

from __future__ import annotations

from typing import Any

from kubectl_lws import errors
from kubectl_lws.commands._mutation import apply_with_retry, consent, list_hpas, show_plan
from kubectl_lws.commands.scale import parse_replicas
from kubectl_lws.model.target import Target

DS_PREFIX = "disaggregatedset.disaggregatedset.x-k8s.io"


def run(app: Any, target: Target, *, replicas: str | None, current_replicas: str | None, roles: tuple[str, ...],
        slices: str | None, wait: bool, timeout: float, yes: bool, dry_run: str) -> int:
    # every flag is checked before the first request
    if slices is not None and (roles or replicas is not None or current_replicas is not None):
        raise errors.UsageError("--slices goes alone: scale the slices, or a role with --role R --replicas N")
    if slices is None and not roles:
        raise errors.UsageError(f"{target.ref}: give --role ROLE --replicas N (a role's groups per slice) or "
                                "--slices N", hint=f"kubectl lws scale {target.ref} --role decode --replicas 3")
    if roles and replicas is None:
        raise errors.UsageError("required flag not set: --replicas", hint="see 'kubectl lws scale --help'")
    wanted = parse_replicas(slices if slices is not None else replicas, "--slices" if slices is not None
                            else "--replicas")
    expected = parse_replicas(current_replicas, "--current-replicas")
    assert wanted is not None
    cluster = app.cluster
    ns = cluster.namespace
    from kubectl_lws.model import dsplans
    from kubectl_lws.model.ds import ds_view

    # the set first: a role, a slice count or replicas that cannot be applied are refused (exit 2) before
    # its children and pods are read, and long before anything is sent
    ds = cluster.get_ds(target.name, ns)
    view = ds_view(ds)
    if slices is not None:
        dsplans.check_slices(view, wanted)
    else:
        chosen = dsplans.roles_named(view, roles)
        if not any(r.mode == "External" for r in chosen):
            dsplans.check_all_or_none(view, chosen, wanted)

    def assess(first: dict | None = None) -> Any:
        from kubectl_lws.commands.status_ds import _assess
        from kubectl_lws.targets import read_ds

        read = read_ds(cluster, target.name, ns, ds=first)
        return _assess(read.ds, read.lws, read.pods, read.services, read.scalers, read.hpas, None, 300.0)

    da = assess(ds)
    if slices is not None:
        return _slices(app, target, da, wanted, assess, yes=yes, dry_run=dry_run, wait=wait, timeout=timeout)
    chosen = dsplans.roles_named(da.view, roles)
    external = [r for r in chosen if r.mode == "External"]
    if external:
        if len(chosen) > 1:
            raise errors.UsageError("an External role is scaled through its role scaler: give it alone with --role")
        return _external(app, target, da, chosen[0], wanted, expected, yes=yes, dry_run=dry_run, wait=wait,
                         timeout=timeout)
    if expected is not None:
        now = {r.name: r.replicas for r in chosen}
        if any(v != expected for v in now.values()):
            raise errors.LwsError(f"expected {expected} replicas per slice but {ns}/{target.name} has "
                                  f"{', '.join(f'{k} {v}' for k, v in now.items())} (--current-replicas precondition "
                                  "failed); nothing was changed")
    plan = dsplans.plan_role_scale(da, chosen, wanted)
    if not _go_ahead(app, target, plan, f"Scale DisaggregatedSet {ns}/{target.name} {plan.direction}:",
                     f"{ns}/{target.name}: {', '.join(plan.roles)} already at {wanted} per slice", yes=yes,
                     dry_run=dry_run):
        return errors.EXIT_OK
    return _patch_set(app, target, plan, lambda: dsplans.plan_role_scale(assess(), dsplans.roles_named(da.view, roles),
                                                                         wanted),
                      lambda a, f: f"the roles went from {list(a[1])} to {list(f[1])} per slice",
                      f"scaled {', '.join(plan.roles)} to {wanted} per slice", dry_run=dry_run, wait=wait,
                      timeout=timeout)


def _external(app: Any, target: Target, da: Any, role: Any, wanted: int, expected: int | None, *, yes: bool,
              dry_run: str, wait: bool, timeout: float) -> int:
    from kubectl_lws.model import dsplans
    from kubectl_lws.model.ds import hpas_on_scaler

    cluster = app.cluster
    ns = cluster.namespace
    scaler = da.view.scaler_name(role.name)
    try:
        scale_obj = cluster.get_scale(scaler, ns, kind="disaggregatedsetrolescalers")
    except errors.NotFound:
        raise errors.LwsError(f"role {role.name} is External but its role scaler {scaler} does not exist (yet): the "
                              "DisaggregatedSet controller creates it") from None
    current = int((scale_obj.get("spec") or {}).get("replicas") or 0)
    if expected is not None and expected != current:
        raise errors.LwsError(f"expected {expected} replicas but scaler {ns}/{scaler} has {current} "
                              "(--current-replicas precondition failed); nothing was changed")
    hpas = hpas_on_scaler(list_hpas(app, ns), scaler)
    for hpa in hpas:
        app.warn(f"HorizontalPodAutoscaler {hpa} targets role scaler {scaler}: it will undo a manual scale; change "
                 "its minReplicas/maxReplicas instead")
    plan = dsplans.plan_external_scale(da, role, current, wanted, hpas)
    if not _go_ahead(app, target, plan, f"Scale DisaggregatedSet {ns}/{target.name} role {role.name} "
                     f"{plan.direction}:", f"{ns}/{scaler} already has {current} replicas", yes=yes, dry_run=dry_run):
        return errors.EXIT_OK

    def replan() -> tuple[tuple, str]:
        fresh = cluster.get_scale(scaler, ns, kind="disaggregatedsetrolescalers")
        now = int((fresh.get("spec") or {}).get("replicas") or 0)
        return (now, wanted), (fresh.get("metadata") or {}).get("resourceVersion")

    def send(resource_version: str | None) -> dict:
        return cluster.patch_scale(scaler, wanted, namespace=ns, resource_version=resource_version,
                                   dry_run=dry_run == "server", kind="disaggregatedsetrolescalers")

    apply_with_retry((current, wanted), (scale_obj.get("metadata") or {}).get("resourceVersion"), replan, send,
                     describe_change=lambda a, f: f"the scaler went from {a[0]} to {f[0]} replicas")
    return _done(app, target, f"scaled {role.name} (scaler {scaler}) to {wanted}", dry_run, wait, timeout)


def _go_ahead(app: Any, target: Target, plan: Any, title: str, nothing: str, *, yes: bool, dry_run: str,
              warning: str | None = None) -> bool:
    """Whether to send: nothing to do is said (exit 0); else the plan on stderr, the warning of a scale-down,
    and consent for a scale-down (or the plan only, for --dry-run=client), as ``scale`` of an LWS asks it."""
    if plan.direction == "none":
        app.info(f"{nothing}: nothing to do")
        app.out(f"{DS_PREFIX}/{target.name} unchanged")
        return False
    show_plan(app, title, plan.lines())
    if plan.direction == "down" and warning:
        app.warn(warning)
    return not ((plan.direction == "down" or dry_run == "client") and not consent(app, yes=yes, dry_run=dry_run))


def _slices(app: Any, target: Target, da: Any, wanted: int, assess: Any, *, yes: bool, dry_run: str, wait: bool,
            timeout: float) -> int:
    from kubectl_lws.model import dsplans

    cluster = app.cluster
    ns = cluster.namespace
    plan = dsplans.plan_slices(da, wanted)
    gone = range(wanted, plan.current)
    if not _go_ahead(app, target, plan, f"Scale DisaggregatedSet {ns}/{target.name} slices {plan.direction}:",
                     f"{ns}/{target.name} already has {wanted} slice{'s' if wanted != 1 else ''}", yes=yes,
                     dry_run=dry_run, warning=f"a slice scale-down deletes {dsplans.slice_words(gone)} at once, without "
                     "draining: their groups stop serving together"):
        return errors.EXIT_OK
    return _patch_set(app, target, plan, lambda: dsplans.plan_slices(assess(), wanted),
                      lambda a, f: f"slices went from {a[0]} to {f[0]}",
                      f"scaled to {wanted} slice{'s' if wanted != 1 else ''}", dry_run=dry_run, wait=wait,
                      timeout=timeout)


def _patch_set(app: Any, target: Target, plan: Any, fresh_plan: Any, describe_change: Any, what: str, *,
               dry_run: str, wait: bool, timeout: float) -> int:
    """One JSON patch of the set (``plan.json_patch()``: conditional on the resourceVersion it was planned
    from); a 409 is planned again and retried only while the plan is unchanged."""
    cluster = app.cluster

    def replan() -> tuple[tuple, Any]:
        fresh = fresh_plan()
        return fresh.key(), fresh

    def send(p: Any) -> dict:
        return cluster.patch("disaggregatedsets", target.name, p.json_patch(), namespace=cluster.namespace,
                             patch_type="json", dry_run=dry_run == "server")

    apply_with_retry(plan.key(), plan, replan, send, describe_change=describe_change)
    return _done(app, target, what, dry_run, wait, timeout)


def _done(app: Any, target: Target, what: str, dry_run: str, wait: bool, timeout: float) -> int:
    server_dry = dry_run == "server"
    app.out(f"{DS_PREFIX}/{target.name} {what}{' (server dry run)' if server_dry else ''}")
    if wait and not server_dry:
        from kubectl_lws.commands.rollout_ds import wait_healthy

        wait_healthy(app, target.name, app.cluster.namespace, timeout, progress=app.info)
        app.info("scale complete")
    return errors.EXIT_OK
