"""``kubectl lws scale``: change the number of groups through the ``/scale`` subresource.

Why /scale rather than patching spec.replicas: it is what ``kubectl scale`` and an HPA use, it
carries its own resourceVersion (so ``--current-replicas`` and the plan the user saw are one
precondition), and the webhook does not run on it (golden B.1). Scale-down always removes the
highest indexes (reference §8.4), so the plan names those groups before anything is asked.
"""

from __future__ import annotations

import re
from contextlib import nullcontext

import click

from kubectl_lws import errors
from kubectl_lws.commands._mutation import KIND_PREFIX, apply_with_retry, consent, list_hpas, show_plan
from kubectl_lws.options import LWS_NAME, DurationType, app_context, dry_run_option, yes_option


INT32_MAX = 2**31 - 1


def parse_replicas(value: str | None, flag: str) -> int | None:
    """A non-negative int32, or a usage error (``-1``, ``1.5``, ``two`` and ``2147483648`` are refused).

    The API stores replicas as int32 and so does the /scale subresource: a bigger number can never
    be applied, so it is refused before any request (and before a plan sized by it is built).
    """
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d+", text):
        raise errors.UsageError(f"{flag} must be a non-negative integer, got {value!r}")
    if len(text) > 10 or int(text) > INT32_MAX:
        raise errors.UsageError(f"{flag} must be at most {INT32_MAX} (replicas are an int32 in the API), "
                                f"got {text if len(text) <= 20 else text[:20] + '...'}")
    return int(text)


@click.command("scale")
@click.argument("name", type=LWS_NAME, metavar="NAME")
@click.option("--replicas", required=True, metavar="N", help="The new number of groups.")
@click.option("--current-replicas", metavar="M", default=None,
              help="Precondition: only scale if the LWS has M replicas now.")
@click.option("--wait", is_flag=True, help="Wait until new groups are Ready (or removed groups are gone).")
@click.option("--timeout", type=DurationType(), default="10m", show_default=True,
              help="How long --wait waits; 0 waits forever.")
@yes_option()
@dry_run_option()
def scale(name: str, replicas: str, current_replicas: str | None, wait: bool, timeout: float, yes: bool,
          dry_run: str) -> int:
    """Set the number of groups of LeaderWorkerSet NAME (through /scale).

    \b
    Scale-down removes the highest group indexes; the plan names them first and asks for
    confirmation (-y skips it). Scale-up prints how many pods and GPUs it asks for and proceeds.
    Examples:
      kubectl lws scale vllm --replicas 4
      kubectl lws scale vllm --replicas 2 --current-replicas 3 -y
      kubectl lws scale vllm --replicas 5 --wait --timeout 15m
    """
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.keys import selector_for
    from kubectl_lws.model.plans import hpas_targeting, plan_scale

    target = parse_replicas(replicas, "--replicas")
    expected = parse_replicas(current_replicas, "--current-replicas")
    assert target is not None
    app = app_context()
    cluster = app.cluster
    ns = cluster.namespace
    view = lws_view(cluster.get_lws(name, ns))
    if target * max(view.size, 1) > INT32_MAX:
        raise errors.UsageError(f"--replicas {target} with groups of {view.size} pods is more than {INT32_MAX} "
                                "pods, which the LWS webhook refuses (replicas x size must fit an int32)")
    scale_obj = cluster.get_scale(name, ns)
    current = int((scale_obj.get("spec") or {}).get("replicas") or 0)
    if expected is not None and expected != current:
        raise errors.LwsError(f"expected {expected} replicas but {ns}/{name} has {current} "
                              "(--current-replicas precondition failed); nothing was changed")
    hpas = hpas_targeting(list_hpas(app, ns), name)
    pods = cluster.list_pods(ns, label_selector=selector_for(name)) if target != current else []
    plan = plan_scale(view, pods, current, target, hpas)
    for hpa in hpas:
        app.warn(f"HorizontalPodAutoscaler {hpa} targets {name}: it will undo a manual scale; change its "
                 "minReplicas/maxReplicas instead")
    if plan.direction == "none":
        app.info(f"{ns}/{name} already has {current} replicas: nothing to do")
        app.out(f"{KIND_PREFIX}/{name} unchanged")
        return errors.EXIT_OK
    show_plan(app, f"Scale {ns}/{name} {plan.direction}:", plan.lines())
    # Scale-down deletes groups: it needs consent. Scale-up only adds (the plan says how many pods
    # and GPUs), so like kubectl scale it proceeds without a question (issue #8).
    needs_consent = plan.direction == "down" or dry_run == "client"
    if needs_consent and not consent(app, yes=yes, dry_run=dry_run):
        return errors.EXIT_OK
    server_dry = dry_run == "server"

    agreed = (plan.current, plan.target)

    def replan() -> tuple[tuple[int, int], str]:
        fresh = cluster.get_scale(name, ns)
        now = int((fresh.get("spec") or {}).get("replicas") or 0)
        return (now, target), (fresh.get("metadata") or {}).get("resourceVersion")

    def send(resource_version: str | None) -> dict:
        return cluster.patch_scale(name, target, namespace=ns, resource_version=resource_version,
                                   dry_run=server_dry)

    from kubectl_lws.waiting import PodWatcher

    # The watch starts before the patch so --wait sees every change the scale causes.
    with PodWatcher(cluster, name, ns) if wait and not server_dry else nullcontext() as watcher:
        # What existed BEFORE the change (issue #16): pods the controller creates for the scale may be
        # in the watcher's store by the time the patch is answered, and must not count as old.
        before = watcher.pods() if watcher is not None else []
        apply_with_retry(agreed, (scale_obj.get("metadata") or {}).get("resourceVersion"), replan, send,
                         describe_change=lambda a, f: f"replicas went from {a[0]} to {f[0]}")
        app.out(f"{KIND_PREFIX}/{name} scaled{' (server dry run)' if server_dry else ''}")
        if watcher is not None:
            _wait(app, watcher, plan, timeout, before)
    return errors.EXIT_OK


def _wait(app, watcher, plan, timeout: float, before: list[dict]) -> None:  # noqa: ANN001
    """Wait for the groups the plan adds or removes; ``before`` is the pods seen before the patch."""
    from kubectl_lws.waiting import GroupGoal, wait_for_groups

    if plan.direction == "up":
        # leftovers of an earlier scale-down (still terminating) at an added index are "old"
        old = {uid for p in before for uid in [(p.get("metadata") or {}).get("uid")]
               if uid and _index(p) in plan.added}
        goals = [GroupGoal(i, frozenset(old)) for i in plan.added]
    else:
        goals = [GroupGoal(t.index, gone=True) for t in plan.removed]
    wait_for_groups(watcher, goals, size=plan.size, timeout=timeout, progress=app.info)
    app.info("scale complete")


def _index(pod: dict) -> int | None:
    from kubectl_lws.model.groups import group_index

    return group_index(pod)
