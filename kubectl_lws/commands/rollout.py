"""``kubectl lws rollout``: the partition as a first-class canary, plus status, history and undo.

LWS's only canary tool is ``rolloutStrategy.rollingUpdateConfiguration.partition`` (groups with
index >= partition get the new template, highest first, each group re-created whole; reference
§8.2), and ``kubectl rollout`` does not know LWS at all. Operators think in groups, so ``canary``
/ ``promote`` take group counts, ``pause`` / ``resume`` park the partition (keeping the old value
in our own annotation), and ``status`` is partition-aware where StatefulSet's logic hangs or lies.
The decisions live in ``kubectl_lws.model.rollout``; this module reads, asks, patches and waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import click

from kubectl_lws import errors
from kubectl_lws.commands._mutation import KIND_PREFIX, force_option, guard_owned
from kubectl_lws.options import (TARGET, AppContext, DurationType, SelectorType, app_context, dry_run_option,
                                 output_option, yes_option)

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.cluster import Cluster
    from kubectl_lws.model.rollout import HealthFn, PartitionPlan, RolloutStatus

# A group being updated must look failing this long before `status` gives up on it (exit 3): a
# group between its old leader's deletion and its new pods also looks "missing" for a moment.
# Crash loops and image-pull errors (kubelet verdicts) fail at once.
FAILING_GRACE_SECONDS = 3.0


# ---- reading what a plan needs ----------------------------------------------------------------------

@dataclass
class Snapshot:
    """One LWS and what its rollout depends on, read at one point in time."""

    lws: dict
    pods: list[dict]
    leader_sts: dict | None
    current_key: str | None
    hpas: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.lws["metadata"]["name"]


def _leader_sts(cluster: "Cluster", name: str, namespace: str) -> dict | None:
    """The leader StatefulSet (authoritative current revision); None if absent or not readable,
    in which case the health model infers the revision from the pods."""
    try:
        return cluster.get("statefulsets", name, namespace)
    except (errors.NotFound, errors.Forbidden):
        return None


def _current_key(lws: dict, pods: list[dict], leader_sts: dict | None) -> str | None:
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.health import current_revision

    return current_revision(lws_view(lws), pods, leader_sts=leader_sts)


def _snapshot(cluster: "Cluster", lws: dict, hpas: list[dict] | None = None) -> Snapshot:
    from kubectl_lws.model.keys import selector_for

    meta = lws["metadata"]
    pods = cluster.list_pods(meta["namespace"], label_selector=selector_for(meta["name"]))
    sts = _leader_sts(cluster, meta["name"], meta["namespace"])
    return Snapshot(lws, pods, sts, _current_key(lws, pods, sts), list(hpas or []))


def _health(lws: dict, current_key: str | None) -> "HealthFn":
    """Adapter from the status developer's health model to the rollout model's verdict."""
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.health import BAD_WAITING_REASONS, DEGRADED, PENDING, group_health

    view = lws_view(lws)

    def assess(group: Any, size: int) -> tuple[bool, str | None, bool]:
        gh = group_health(view, group, current_revision=current_key)
        if not gh.failing or gh.only_not_ready_yet:
            return gh.group_ready, None, False
        definitive = any(
            p.problem is not None and p.problem.failing and p.problem.state in (DEGRADED, PENDING)
            and p.problem.reason.split(" ")[0] in BAD_WAITING_REASONS
            for p in gh.pods)
        return gh.group_ready, gh.label, definitive

    return assess


def _lws_name(name: Any, action: str) -> str | None:
    """The LWS a partition command acts on; a DisaggregatedSet has no partition (exit 2, nothing sent)."""
    if name is None:
        return None
    if name.is_ds:
        raise errors.UsageError(f"rollout {action} does not apply to a DisaggregatedSet: its controller rolls every "
                                "role slice by slice and forbids a partition; change the roles' templates "
                                f"(kubectl edit disaggregatedset {name.name}) and follow with: kubectl lws rollout "
                                f"status {name.ref}")
    return name.name


def _guard(app: AppContext, lws: dict, action: str, force: bool) -> None:
    guard_owned(app, lws, action=f"rollout {action}", force=force,
                instead=lambda ref: "change the role's template in the DisaggregatedSet and follow with: kubectl lws "
                                    f"rollout status ds/{ref.ds}")


def _targets(app: AppContext, name: str | None, selector: str | None) -> list[dict]:
    if bool(name) == bool(selector):
        raise errors.UsageError("give a LeaderWorkerSet NAME or -l/--selector, not both and not neither")
    cluster = app.cluster
    if name:
        return [cluster.get_lws(name)]
    items = cluster.list_lws(label_selector=selector)
    if not items:
        raise errors.NotFound(f'no LeaderWorkerSet matches "{selector}" in namespace "{cluster.namespace}"',
                              code=404, reason="NotFound")
    return sorted(items, key=lambda o: o["metadata"]["name"])


# ---- the partition commands (canary, promote, pause, resume) ----------------------------------------

# lws -> (new partition, annotation patch, reason it is a no-op or None, maxSurge/maxUnavailable patch)
Decide = Callable[[dict], "tuple[int, dict[str, str | None], str | None, dict[str, Any]]"]


def _plan(snap: Snapshot, action: str, decide: Decide) -> tuple["PartitionPlan", str | None]:
    from kubectl_lws.model.rollout import plan_partition

    new_partition, annotations, why_noop, strategy = decide(snap.lws)
    plan = plan_partition(snap.lws, snap.pods, snap.current_key, new_partition, action=action,
                          annotation_patch=annotations, health=_health(snap.lws, snap.current_key),
                          strategy_patch=strategy)
    return plan, why_noop


def _hpa_notes(snap: Snapshot, action: str) -> list[str]:
    from kubectl_lws.model.plans import hpa_objects_targeting
    from kubectl_lws.model.rollout import hpa_note

    return [hpa_note(h, action) for h in hpa_objects_targeting(snap.hpas, snap.name)]


def _run_partition_command(app: AppContext, name: Any, selector: str | None, action: str,
                           decide: Decide, *, yes: bool, dry_run: str, wait: bool = False,
                           timeout: float = 0.0, force: bool = False) -> int:
    """Plan every target, show all plans, ask once, then patch each (conditional on its read)."""
    from kubectl_lws.commands._mutation import apply_with_retry, consent, list_hpas, show_plan
    from kubectl_lws.render.rollout import plan_lines, plan_title

    cluster = app.cluster
    targets = _targets(app, _lws_name(name, action), selector)
    for lws in targets:
        _guard(app, lws, action, force)
    hpas = list_hpas(app, cluster.namespace)
    planned: list[tuple[Snapshot, "PartitionPlan"]] = []
    for lws in targets:
        snap = _snapshot(cluster, lws, hpas)
        plan, why_noop = _plan(snap, action, decide)
        if plan.noop:
            app.info(f"{KIND_PREFIX}/{plan.name}: nothing to do: "
                     f"{why_noop or f'partition is already {plan.new_partition}'}")
            continue
        show_plan(app, plan_title(plan), plan_lines(plan, _hpa_notes(snap, action)))
        planned.append((snap, plan))
    if not planned and not wait:
        return errors.EXIT_OK
    if planned and not consent(app, yes=yes, dry_run=dry_run):
        return errors.EXIT_OK
    if planned:
        server_dry = dry_run == "server"
        for snap, plan in planned:
            def replan(snap: Snapshot = snap) -> tuple[tuple, "PartitionPlan"]:
                fresh = _snapshot(cluster, cluster.get_lws(snap.name, snap.lws["metadata"]["namespace"]), hpas)
                fresh_plan, _ = _plan(fresh, action, decide)
                return fresh_plan.key(), fresh_plan

            def send(p: "PartitionPlan") -> dict:
                return cluster.patch_lws(p.name, p.patch(), namespace=p.namespace,
                                         resource_version=p.resource_version, dry_run=server_dry)

            def describe(old: tuple, new: tuple) -> str:
                return (f"partition would now go to {new[0]} re-creating groups {list(new[1])} "
                        f"(agreed: {old[0]}, groups {list(old[1])})")

            try:
                apply_with_retry(plan.key(), plan, replan, send, describe_change=describe)
            except errors.LwsError as exc:
                done = [p.name for _, p in planned[:planned.index((snap, plan))]]
                if done:  # with -l: say which ones were already changed
                    exc.hint = (exc.hint + "; " if exc.hint else "") + f"already changed: {', '.join(done)}"
                raise
            suffix = " (server dry run)" if server_dry else ""
            strategy = "".join(f", {k} {plan.old_strategy.get(k)} -> {v}" for k, v in plan.strategy_patch.items())
            app.out(f"{KIND_PREFIX}/{plan.name} partition {plan.old_partition} -> {plan.new_partition}"
                       f"{strategy} ({_done_word(action)}){suffix}")
    if wait and dry_run == "none":
        deadline = time.monotonic() + timeout if timeout > 0 else None
        for lws in targets:
            left = 0.0 if deadline is None else max(0.001, deadline - time.monotonic())
            _wait_status(app, lws["metadata"]["name"], lws["metadata"]["namespace"], left)
    return errors.EXIT_OK


def _done_word(action: str) -> str:
    return {"canary": "canary set", "promote": "promoted", "pause": "paused", "resume": "resumed"}[action]


def _selector_option() -> Callable:
    return click.option("-l", "--selector", type=SelectorType(), default=None, metavar="SELECTOR",
                        help="Act on every LWS matching this label selector (one plan for all).")


# ---- click ------------------------------------------------------------------------------------------

@click.group("rollout")
def rollout() -> None:
    """Canary, promote, pause and resume the partition; rollout status, history and undo.

    \b
    The LWS partition is the canary: groups with index >= partition get the new template,
    highest first, each group re-created whole; groups below it keep the old revision.
    \b
    Examples:
      kubectl lws rollout canary vllm --groups 1      # next template change reaches 1 group
      kubectl set image ... / kubectl apply ...        # the top group rolls
      kubectl lws rollout status vllm                  # done when the canary group is Ready
      kubectl lws rollout promote vllm --step 1 --wait
      kubectl lws rollout promote vllm --full
      kubectl lws rollout pause vllm ; kubectl lws rollout resume vllm
      kubectl lws rollout history vllm ; kubectl lws rollout undo vllm
    """


@rollout.command("canary")
@click.argument("name", required=False, type=TARGET, metavar="NAME")
@_selector_option()
@click.option("--groups", type=click.IntRange(max=2**31 - 1), default=None, metavar="K",
              help="Put the current revision on the top K groups: partition = replicas - K.")
@click.option("--partition", type=int, default=None, metavar="P", help="Set the partition to P exactly.")
@force_option()
@yes_option()
@dry_run_option()
def canary(name: Any, selector: str | None, groups: int | None, partition: int | None, force: bool, yes: bool,
           dry_run: str) -> int:
    """Make the top K groups the canary (partition = replicas - K).

    Groups >= the new partition run the current template; if a template change is pending they are
    re-created now, highest first; otherwise the next template change reaches only them.
    """
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.rollout import canary_partition, clear_pause, release_surge

    if (groups is None) == (partition is None):
        raise errors.UsageError("give exactly one of --groups K or --partition P")
    if groups is not None and groups < 0:
        raise errors.UsageError(f"--groups must be 0 or more, got {groups}")
    if partition is not None and partition < 0:
        raise errors.UsageError(f"--partition must be 0 or more, got {partition}")

    def decide(lws: dict) -> tuple[int, dict[str, str | None], str | None, dict[str, Any]]:
        view = lws_view(lws)
        return (canary_partition(view.replicas, groups=groups, partition=partition), clear_pause(lws), None,
                release_surge(lws)[0])

    return _run_partition_command(app_context(), name, selector, "canary", decide, yes=yes, dry_run=dry_run,
                                  force=force)


@rollout.command("promote")
@click.argument("name", required=False, type=TARGET, metavar="NAME")
@_selector_option()
@click.option("--step", type=click.IntRange(max=2**31 - 1), default=None, metavar="K", help="Lower the partition by K groups (default 1).")
@click.option("--full", is_flag=True, help="Set the partition to 0: every group gets the current revision.")
@click.option("--wait", is_flag=True, help="Then wait like `rollout status` (exit 3 failing, 4 timeout).")
@click.option("--timeout", type=DurationType(), default="0", help="With --wait: give up after this long "
              "(0 = never).")
@force_option()
@yes_option()
@dry_run_option()
def promote(name: Any, selector: str | None, step: int | None, full: bool, wait: bool, timeout: float,
            force: bool, yes: bool, dry_run: str) -> int:
    """Extend the canary by K groups (--step K) or to every group (--full)."""
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.rollout import clear_pause, promote_partition, release_surge

    if full and step is not None:
        raise errors.UsageError("give --step K or --full, not both")
    if step is not None and step < 1:
        raise errors.UsageError(f"--step must be 1 or more, got {step}")

    def decide(lws: dict) -> tuple[int, dict[str, str | None], str | None, dict[str, Any]]:
        view = lws_view(lws)
        new = promote_partition(view.partition, view.replicas, step=step, full=full)
        why = "already fully promoted (partition 0)" if new == view.partition == 0 else None
        return new, clear_pause(lws), why, release_surge(lws)[0]

    return _run_partition_command(app_context(), name, selector, "promote", decide, yes=yes, dry_run=dry_run,
                                  wait=wait, timeout=timeout, force=force)


@rollout.command("pause")
@click.argument("name", required=False, type=TARGET, metavar="NAME")
@_selector_option()
@force_option()
@yes_option()
@dry_run_option()
def pause(name: Any, selector: str | None, force: bool, yes: bool, dry_run: str) -> int:
    """Hold every group where it is: partition = replicas, and maxSurge 0 so a template change starts no
    surge group either (the old values are kept in annotations for resume)."""
    from kubectl_lws.model.keys import PAUSED_PARTITION_ANNOTATION
    from kubectl_lws.model.rollout import hold_surge, pause_target, paused_from

    def decide(lws: dict) -> tuple[int, dict[str, str | None], str | None, dict[str, Any]]:
        new, annotations, why = pause_target(lws)
        strategy, surge_notes = hold_surge(lws)
        if strategy:  # a pause that does not hold surge yet is not done, whatever the partition says
            annotations = {**annotations, **surge_notes}
            if paused_from(lws) is None:
                annotations.setdefault(PAUSED_PARTITION_ANNOTATION, str(lws_partition(lws)))
            why = None
        return new, annotations, why, strategy

    return _run_partition_command(app_context(), name, selector, "pause", decide, yes=yes, dry_run=dry_run,
                                  force=force)


def lws_partition(lws: dict) -> int:
    from kubectl_lws.model.groups import lws_view

    return lws_view(lws).partition


@rollout.command("resume")
@click.argument("name", required=False, type=TARGET, metavar="NAME")
@_selector_option()
@force_option()
@yes_option()
@dry_run_option()
def resume(name: Any, selector: str | None, force: bool, yes: bool, dry_run: str) -> int:
    """Restore the partition (and maxSurge/maxUnavailable) saved by `rollout pause`."""
    from kubectl_lws.model.rollout import release_surge, resume_target

    def decide(lws: dict) -> tuple[int, dict[str, str | None], str | None, dict[str, Any]]:
        new, annotations, why = resume_target(lws)
        strategy, surge_notes = release_surge(lws)
        if surge_notes:
            annotations = {**annotations, **surge_notes}
            why = None
        return new, annotations, why, strategy

    return _run_partition_command(app_context(), name, selector, "resume", decide, yes=yes, dry_run=dry_run,
                                  force=force)


# ---- status -----------------------------------------------------------------------------------------

def _evaluate(lws: dict, pods: list[dict], leader_sts: dict | None) -> "RolloutStatus":
    from kubectl_lws.model.rollout import evaluate_status

    key = _current_key(lws, pods, leader_sts)
    return evaluate_status(lws, pods, key, health=_health(lws, key))


def _the_lws(items: list[dict], name: str, namespace: str, seen: bool) -> dict:
    """Our LWS out of the namespace's LWS store; gone is an error (deleted, or never there)."""
    for item in items:
        if item["metadata"]["name"] == name:
            return item
    if seen:
        raise errors.LwsError(f'leaderworkerset "{name}" was deleted while waiting')
    raise errors.lws_not_found(name, namespace, [i["metadata"]["name"] for i in items])


def _wait_status(app: AppContext, name: str, namespace: str, timeout: float, *,
                 progress_to_stderr: bool = False) -> "RolloutStatus":
    """Follow the rollout through watches (the LWS, its StatefulSets, its pods; no polling) until
    done (0), failing (3) or timed out (4)."""
    from kubectl_lws.model.keys import selector_for
    from kubectl_lws.model.rollout import RecreateTracker
    from kubectl_lws.render.output import echo
    from kubectl_lws.waiting import FailingGrace, Informer, watch_until

    selector = selector_for(name)
    informer = Informer(app.cluster, namespace, [("leaderworkersets", None), ("statefulsets", selector),
                                                 ("pods", selector)], optional={"statefulsets"}, name=name)
    tracker = RecreateTracker()
    state: dict[str, Any] = {"status": None, "shown": None}
    grace = FailingGrace(FAILING_GRACE_SECONDS)

    def progress(message: str) -> None:
        if message != state["shown"]:
            echo(message, err=progress_to_stderr)
            state["shown"] = message

    def failing(text: str, status: "RolloutStatus") -> errors.UnhealthyError:
        progress(status.message)  # the state that failed is printed before the verdict
        return errors.UnhealthyError(text)

    def check() -> tuple[bool, str]:
        lws = _the_lws(informer.items("leaderworkersets"), name, namespace, state["status"] is not None)
        pods = informer.items("pods")
        sts = next((s for s in informer.items("statefulsets") if s["metadata"]["name"] == name), None)
        status = state["status"] = _evaluate(lws, pods, sts)
        if status.done:
            return True, status.message
        tracker.observe(status)
        recreated = tracker.failing(status)
        if recreated:
            raise failing(_failing_text(name, status, recreated), status)
        terminating = any(p["metadata"].get("deletionTimestamp") for p in pods)
        if grace.failed(bool(status.failing), definitive=status.definitive, terminating=terminating):
            raise failing(_failing_text(name, status), status)
        return False, status.message

    watch_until(informer, check, timeout=timeout, progress=progress, what=f"the rollout of {name}",
                tick=FAILING_GRACE_SECONDS / 4)
    return state["status"]


def _failing_text(name: str, status: "RolloutStatus", extra: list[tuple[int, str]] | None = None) -> str:
    parts = [f"group {i}: {reason}" for i, reason in (extra or status.failing)]
    return f"rollout of {name} is failing: " + "; ".join(parts)


class _StatusCommand(click.Command):
    """kubectl's bool flags take ``--watch=false`` (never ``--watch false``, which would eat NAME):
    rewrite that form into a hidden option and keep ``-w``/``--watch`` a plain flag."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for arg in args:
            if arg.startswith("--watch=") or arg.startswith("-w="):
                rewritten += ["--watch-value", arg.split("=", 1)[1]]
            else:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def _bool_text(value: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "1", "t", "yes", ""):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise errors.UsageError(f"--watch takes true or false, got {value!r}")


@rollout.command("status", cls=_StatusCommand)
@click.argument("name", type=TARGET, metavar="NAME")
@click.option("-w", "--watch", "watch_flag", is_flag=True,
              help="Wait until the rollout is done (the default); --watch=false prints the state once.")
@click.option("--watch-value", "watch_value", default=None, hidden=True)
@click.option("--timeout", type=DurationType(), default="0", help="Give up after this long (exit 4); "
              "0 = never.")
@output_option(("text", "json"), default="text")
def status(name: Any, watch_flag: bool, watch_value: str | None, timeout: float, output: str) -> int:
    """Follow the partition-aware rollout of NAME (or of DisaggregatedSet ds/NAME) until it is done.

    \b
    Exit codes: 0 done (a finished canary with partition > 0 is done), 3 a group being updated is
    failing (crash loop, unschedulable...) or, with --watch=false, not done yet, 4 timed out.
    """
    from kubectl_lws.render.output import dump_json

    watch = True if watch_value is None else _bool_text(watch_value)
    if name.is_ds:
        from kubectl_lws.commands import rollout_ds

        return rollout_ds.status(app_context(), name, watch=watch, timeout=timeout, output=output)
    name = name.name
    app = app_context()
    cluster = app.cluster
    namespace = cluster.namespace
    if not watch:
        lws = cluster.get_lws(name)
        snap = _snapshot(cluster, lws)
        result = _evaluate(lws, snap.pods, snap.leader_sts)
        if output == "json":
            dump_json(result.to_dict())
        else:
            app.out(result.message)
        if result.failing:
            app.info(_failing_text(name, result))
        return errors.EXIT_OK if result.done else errors.EXIT_UNHEALTHY
    cluster.get_lws(name)  # a clear not-found (with close names) before starting watches
    result = _wait_status(app, name, namespace, timeout, progress_to_stderr=output == "json")
    if output == "json":
        dump_json(result.to_dict())
    return errors.EXIT_OK


# ---- history and undo -------------------------------------------------------------------------------

def _revisions(cluster: "Cluster", lws: dict) -> list[dict]:
    from kubectl_lws.model.keys import NAME_LABEL

    meta = lws["metadata"]
    return cluster.list("controllerrevisions", meta["namespace"], label_selector=f"{NAME_LABEL}={meta['name']}")[0]


@rollout.command("history")
@click.argument("name", type=TARGET, metavar="NAME")
@click.option("--revision", "revision_number", type=int, default=None, metavar="N",
              help="Show revision N in detail (images, groups, the stored template).")
@output_option(("table", "json", "yaml"), default="table")
def history(name: Any, revision_number: int | None, output: str) -> int:
    """List the ControllerRevisions of NAME: hash, age, images, which groups run each now (ds/NAME: the
    revisions whose child LWS exist, and the set's events)."""
    if name.is_ds:
        if revision_number is not None:
            raise errors.UsageError("--revision applies to a LeaderWorkerSet's ControllerRevisions, not to a "
                                    "DisaggregatedSet")
        from kubectl_lws.commands import rollout_ds

        return rollout_ds.history(app_context(), name, output=output)
    name = name.name
    from kubectl_lws.model import rollout as model
    from kubectl_lws.model.keys import selector_for
    from kubectl_lws.render.output import dump_yaml, emit
    from kubectl_lws.render.rollout import history_footer, history_table

    app = app_context()
    cluster = app.cluster
    lws = cluster.get_lws(name)
    namespace = lws["metadata"]["namespace"]
    revisions = _revisions(cluster, lws)
    leaders = cluster.list_pods(namespace, label_selector=selector_for(name, worker_index="0"))
    sts = _leader_sts(cluster, name, namespace)
    key = _current_key(lws, leaders, sts) or None
    entries = model.history(revisions, leaders, key, lws["metadata"].get("uid"))
    if revision_number is not None:
        chosen = [e for e in entries if e.revision == revision_number]
        if not chosen:
            existing = ", ".join(str(e.revision) for e in entries) or "none"
            raise errors.LwsError(f"revision {revision_number} of {name} not found (existing: {existing}); "
                                  + model.HISTORY_NOTE)
        entry = chosen[0]
        raw = next(r for r in model.lws_revisions(revisions, lws["metadata"].get("uid"))
                   if int(r.get("revision") or 0) == revision_number)
        detail = {**entry.to_dict(), "spec": model.revision_spec(raw)}
        if emit(detail, output):
            return errors.EXIT_OK
        app.out(f"LeaderWorkerSet {namespace}/{name} revision {entry.revision}"
                   f"{' (current)' if entry.current else ''}")
        app.out(f"  hash:          {entry.key}")
        app.out(f"  created:       {entry.created}")
        app.out(f"  leader images: {', '.join(entry.leader_images) or '-'}")
        app.out(f"  worker images: {', '.join(entry.worker_images) or '-'}")
        app.out(f"  groups now:    {model.spans(entry.groups) if entry.groups else 'none'}")
        app.out("  stored spec (leaderWorkerTemplate, networkConfig):")
        import io

        buf = io.StringIO()
        dump_yaml(detail["spec"], buf)
        for line in buf.getvalue().splitlines():
            app.out(f"    {line}")
        return errors.EXIT_OK
    if emit({"name": name, "namespace": namespace, "currentRevision": key,
             "revisions": [e.to_dict() for e in entries], "note": model.HISTORY_NOTE}, output):
        return errors.EXIT_OK
    app.out(history_table(entries))
    for line in history_footer(entries):
        app.info(line)
    return errors.EXIT_OK


@rollout.command("undo")
@click.argument("name", type=TARGET, metavar="NAME")
@click.option("--to-revision", type=int, default=None, metavar="N",
              help="Revision to go back to (default: the newest one before the current).")
@force_option()
@yes_option()
@dry_run_option()
def undo(name: Any, to_revision: int | None, force: bool, yes: bool, dry_run: str) -> int:
    """Put back the leaderWorkerTemplate (and networkConfig) stored in an existing revision."""
    name = _lws_name(name, "undo")
    from kubectl_lws.commands._mutation import apply_with_retry, consent, show_plan
    from kubectl_lws.model.rollout import UndoPlan, plan_undo
    from kubectl_lws.render.rollout import undo_lines, undo_title

    app = app_context()
    cluster = app.cluster

    def make_plan() -> tuple[UndoPlan, dict]:
        lws = cluster.get_lws(name)
        snap = _snapshot(cluster, lws)
        return plan_undo(lws, _revisions(cluster, lws), snap.pods, snap.current_key, to_revision), lws

    plan, lws = make_plan()
    _guard(app, lws, "undo", force)
    if plan.noop:
        app.info(f"{KIND_PREFIX}/{name}: nothing to do: the current revision is already revision "
                 f"{plan.to_revision} ({plan.to_key})")
        return errors.EXIT_OK
    notes = []
    if plan.partition > 0:
        notes.append(f"partition {plan.partition} stays: groups below it keep what they run")
    show_plan(app, undo_title(plan), undo_lines(plan, notes))
    if not consent(app, yes=yes, dry_run=dry_run):
        return errors.EXIT_OK
    state = {"lws": lws}

    def replan() -> tuple[tuple, UndoPlan]:
        fresh, fresh_lws = make_plan()
        state["lws"] = fresh_lws
        return fresh.key(), fresh

    def send(p: UndoPlan) -> dict:
        return cluster.patch_lws(name, p.json_patch(state["lws"]), namespace=p.namespace, patch_type="json",
                                 resource_version=p.resource_version, dry_run=dry_run == "server")

    apply_with_retry(plan.key(), plan, replan, send)
    suffix = " (server dry run)" if dry_run == "server" else ""
    app.out(f"{KIND_PREFIX}/{name} rolled back to revision {plan.to_revision} ({plan.to_key}){suffix}")
    return errors.EXIT_OK
