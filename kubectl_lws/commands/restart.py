"""``kubectl lws restart``: re-create one group, several, all at once by template, or all rolling.

Restarting group *i* deletes leader ``L-<i>`` with Foreground propagation and the leader's UID as a
precondition (reference §8.5): it works under every restart policy and version, the workers go
first, and a group that was already re-created is never hit twice. Worker pods are never deleted
(that races in LWS <= v0.10). ``--all`` without ``--rolling`` is ``kubectl rollout restart``'s
template annotation (§8.3), so the controller rolls by its own strategy.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Sequence

import click

from kubectl_lws import errors
from kubectl_lws.commands._mutation import KIND_PREFIX, consent, force_option, guard_owned, show_plan
from kubectl_lws.options import TARGET, AppContext, DurationType, app_context, dry_run_option, yes_option
from kubectl_lws.model.target import ds_flags_on_lws

if TYPE_CHECKING:  # pragma: no cover
    from kubectl_lws.model.plans import GroupTarget, RestartPlan

DEFAULT_TIMEOUT = "10m"


def parse_groups(values: Sequence[str]) -> list[int]:
    """``-g 1 -g 2`` and ``-g 1,2`` both work; anything but a non-negative integer is a usage error."""
    out: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part.isdigit():
                raise errors.UsageError(f"-g/--group takes group indexes (0, 1, ...), got {part!r}")
            out.append(int(part))
    return sorted(set(out))


@click.command("restart")
@click.argument("name", type=TARGET, metavar="NAME")
@click.option("-g", "--group", "groups", multiple=True, metavar="N[,N...]",
              help="Group index to re-create (repeatable, or comma-separated).")
@click.option("--role", default=None, metavar="ROLE", help="ds/NAME: the role whose group to re-create.")
@click.option("--slice", "slice_", type=click.IntRange(min=0), default=None, metavar="S",
              help="ds/NAME: the slice (required when the set has several).")
@click.option("--all", "all_groups", is_flag=True, help="All groups: a template restart, or with --rolling "
              "group by group.")
@click.option("--rolling", is_flag=True, help="Re-create groups batch by batch, highest index first, waiting "
              "until each batch is Ready again.")
@click.option("--max-unavailable", type=click.IntRange(max=2**31 - 1), default=None, metavar="K",
              help="With --rolling: groups re-created at the same time (default 1).")
@click.option("--wait", is_flag=True, help="Wait until the re-created groups are Ready (new pod UIDs).")
@click.option("--timeout", type=DurationType(), default=DEFAULT_TIMEOUT, show_default=True,
              help="How long to wait for each group (or batch) to come back; 0 waits forever.")
@click.option("--save-logs", "save_logs", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Before deleting, save current and previous logs of every container of "
              "the targeted groups, one file per container.")
@force_option()
@yes_option()
@dry_run_option()
def restart(name: object, groups: tuple[str, ...], role: str | None, slice_: int | None, all_groups: bool,
            rolling: bool, max_unavailable: int | None, wait: bool, timeout: float, save_logs: Path | None,
            force: bool, yes: bool, dry_run: str) -> int:
    """Re-create groups of LeaderWorkerSet NAME (every pod gets a new UID), or of a DisaggregatedSet's role
    (ds/NAME --role R -g N: the group of the role's current child LWS; a whole role is refused).

    \b
    Examples:
      kubectl lws restart vllm -g 2                  # re-create group 2 now
      kubectl lws restart vllm -g 0,2 --wait         # two groups, wait until Ready
      kubectl lws restart vllm --all --rolling       # one group at a time, highest first
      kubectl lws restart vllm --all                 # template restart (controller's strategy)
      kubectl lws restart vllm -g 1 --save-logs ./logs -y
      kubectl lws restart ds/pd --role decode --slice 0 -g 1
    """
    from kubectl_lws.model import plans
    from kubectl_lws.model.groups import lws_view
    from kubectl_lws.model.keys import selector_for

    indexes = parse_groups(groups)
    target = name
    if target.is_ds:
        from kubectl_lws.model.dsplans import WHOLE_ROLE_REFUSED

        if all_groups or (role and not indexes):
            raise errors.UsageError(WHOLE_ROLE_REFUSED)
        if not role or not indexes:
            raise errors.UsageError(f"give the role and its group: kubectl lws restart {target.ref} --role ROLE "
                                    "-g N [--slice S]")
    elif role is not None or slice_ is not None:
        raise ds_flags_on_lws(target)
    if bool(indexes) == all_groups:
        raise errors.UsageError("give the groups to restart with -g N, or --all")
    if max_unavailable is not None and not rolling:
        raise errors.UsageError("--max-unavailable goes with --rolling")
    if max_unavailable is not None and max_unavailable < 1:
        raise errors.UsageError("--max-unavailable must be at least 1")
    app = app_context()
    cluster = app.cluster
    ns = cluster.namespace
    name = _ds_child(app, target, role, slice_) if target.is_ds else target.name
    lws = cluster.get_lws(name, ns)
    if all_groups:
        guard_owned(app, lws, action="restart every group of", force=force,
                    instead=lambda ref: f"kubectl lws restart ds/{ref.ds} --role {ref.role} --slice {ref.slice} -g N "
                                        "(a group at a time: restarting them all would need a template change, "
                                        "which rolls every role)")
    view = lws_view(lws)
    pods = cluster.list_pods(ns, label_selector=selector_for(name))
    try:
        if rolling:
            plan = plans.plan_rolling_restart(view, pods, max_unavailable or 1, indexes or None)
        elif all_groups:
            plan = plans.plan_template_restart(view, pods)
        else:
            plan = plans.plan_restart_groups(view, pods, indexes)
    except ValueError as exc:
        raise errors.UsageError(str(exc)) from None

    if view.replicas == 0 and not plan.targets:
        # Nothing exists to re-create; a template annotation would only make a revision for nobody.
        app.info(f"{KIND_PREFIX}/{name}: nothing to restart: {ns}/{name} has 0 replicas (no group exists)")
        return errors.EXIT_OK
    title = {"groups": f"Restart {_groups_text(plan)} of {ns}/{name}:",
             "rolling": f"Rolling restart of {_groups_text(plan)} of {ns}/{name}:",
             "template": f"Template restart of {ns}/{name}:"}[plan.mode]
    show_plan(app, title, plan.lines())
    for warning in plan.warnings:
        app.warn(warning)
    if save_logs is not None:
        _check_log_dir(save_logs, plan)
    if not consent(app, yes=yes, dry_run=dry_run):
        return errors.EXIT_OK
    server_dry = dry_run == "server"
    suffix = " (server dry run)" if server_dry else ""
    if save_logs is not None and server_dry:
        app.info("dry run (server): logs were not saved")
        save_logs = None

    if plan.mode == "template":
        return _template_restart(app, plan, view, save_logs, wait, timeout, server_dry, suffix)
    if plan.mode == "rolling":
        return _rolling_restart(app, plan, view, save_logs, timeout, server_dry, suffix)
    return _restart_groups(app, plan, save_logs, wait, timeout, server_dry, suffix)


def _ds_child(app: AppContext, target: Any, role: str, slice_: int | None) -> str:
    """The child LWS whose groups ``restart ds/NAME --role R [--slice S] -g N`` re-creates (the role's child
    at the target revision), said on stderr before the plan."""
    from kubectl_lws.commands.status_ds import _assess
    from kubectl_lws.model.ds import ds_view
    from kubectl_lws.model.dsplans import check_restart, restart_child
    from kubectl_lws.targets import read_ds

    ds = app.cluster.get_ds(target.name)
    check_restart(ds_view(ds), role, slice_)  # the role and slice exist (exit 2) before anything else is read
    read = read_ds(app.cluster, target.name, ds=ds)
    da = _assess(read.ds, read.lws, read.pods, read.services, read.scalers, read.hpas, None, 300.0)
    child = restart_child(da, role, slice_)
    app.info(f"{target.ref}: role {role}, slice {child.ref.slice}, revision {child.ref.revision}: child LWS "
             f"{child.name}")
    return child.name


# ---- the three modes --------------------------------------------------------------------------------

def _optional_watcher(app: AppContext, plan: "RestartPlan", wanted: bool) -> ContextManager[Any]:
    """The pod watch of --wait, started before anything is deleted (so no change is missed), or None."""
    from kubectl_lws.waiting import PodWatcher

    return PodWatcher(app.cluster, plan.lws, plan.namespace) if wanted else nullcontext()


def _restart_groups(app: AppContext, plan: "RestartPlan", save_logs: Path | None, wait: bool, timeout: float,
                    server_dry: bool, suffix: str) -> int:
    from kubectl_lws.waiting import GroupGoal, wait_for_groups_shown

    with _optional_watcher(app, plan, wait and not server_dry) as watcher:
        if save_logs is not None:
            try:
                _save_logs(app, save_logs, plan.targets)
            except errors.LwsError as exc:
                raise _with_outcome(exc, "no group was restarted") from None
        goals = []
        restarted: list[int] = []
        for number, target in enumerate(plan.targets):
            try:
                if _delete_leader(app, plan, target, server_dry, suffix):
                    goals.append(GroupGoal(target.index, target.pod_uids))
            except errors.LwsError as exc:
                # Say plainly what happened to every group: some may already be re-created.
                rest = sorted(t.index for t in plan.targets[number:])
                done = (f"{_groups_word(restarted)} {_list_or_none(restarted)} "
                        f"{'was' if len(restarted) == 1 else 'were'} restarted" if restarted
                        else "no group was restarted")
                raise _with_outcome(exc, f"{done}; {_groups_word(rest)} {_list_or_none(rest)} "
                                         f"{'was' if len(rest) == 1 else 'were'} not") from None
            restarted.append(target.index)
        if watcher is not None and goals:
            wait_for_groups_shown(watcher, goals, size=plan.size, timeout=timeout, what="groups Ready again")
            app.info(f"{_plural(len(goals))} Ready again")
    return errors.EXIT_OK


def _rolling_restart(app: AppContext, plan: "RestartPlan", view, save_logs: Path | None,  # noqa: ANN001
                     timeout: float, server_dry: bool, suffix: str) -> int:
    from kubectl_lws.model.plans import targets_by_index
    from kubectl_lws.progress import Progress
    from kubectl_lws.waiting import GroupGoal, PodWatcher, groups_check, wait_for_groups

    cluster = app.cluster
    if server_dry:  # nothing will happen, so there is nothing to wait for: validate every delete
        for target in plan.targets:
            _delete_leader(app, plan, target, True, suffix)
        return errors.EXIT_OK
    size = plan.size
    done: list[int] = []
    # On a terminal: a bar of the groups restarted and Ready, the lines below printed above it.
    with PodWatcher(cluster, plan.lws, plan.namespace) as watcher, Progress(plain_counts=False) as bar:
        bar.start("rolling restart", len(plan.targets))
        say = bar.line
        # The capacity promise of the plan: groups Ready now must be Ready before each next batch.
        serving = {i for i, t in targets_by_index(view, watcher.pods()).items() if t.ready and i < view.replicas}
        for number, batch in enumerate(plan.batches, 1):
            untouched = [i for b in plan.batches[number:] for i in b]
            others = [GroupGoal(i) for i in sorted(serving - set(batch))]
            if others and not groups_check(others, size)(watcher.pods())[0]:
                app.warn("a group that was serving is not Ready: waiting before restarting group(s) "
                         f"{','.join(map(str, batch))} so capacity stays as planned")
                try:
                    wait_for_groups(watcher, others, size=size, timeout=timeout, progress=say)
                except errors.WaitTimeout as exc:
                    raise errors.WaitTimeout(
                        f"{exc.message}; stopped to keep capacity: restarted and Ready: {_list_or_none(done)}; "
                        f"untouched: {_list_or_none([*batch, *untouched])}",
                        hint=f"see: kubectl lws status {plan.lws} -n {plan.namespace}") from None
            # Re-read the groups from the live view: the UIDs to delete are this moment's incarnation.
            current = targets_by_index(view, watcher.pods())
            targets = [current.get(i) or plan.target(i) for i in batch]
            say(f"batch {number}/{len(plan.batches)}: group(s) {','.join(map(str, batch))}")
            if save_logs is not None:
                try:
                    _save_logs(app, save_logs, targets)
                except errors.LwsError as exc:
                    if done:  # earlier batches' logs are complete and kept: a re-run needs a fresh DIR
                        exc.hint = (f"the logs of groups {_list_or_none(done)} (saved before they were "
                                    f"restarted) stay in {save_logs}; to run again, give another --save-logs "
                                    "directory")
                    raise _with_outcome(exc, f"restarted and Ready: {_list_or_none(done)}; not restarted: "
                                             f"{_list_or_none([*batch, *untouched])}") from None
            goals = []
            for number_in_batch, t in enumerate(targets):
                try:
                    if _delete_leader(app, plan, t, False, suffix):
                        goals.append(GroupGoal(t.index, t.pod_uids))
                except errors.LwsError as exc:
                    hit = [x.index for x in targets[:number_in_batch]]
                    rest = [x.index for x in targets[number_in_batch:]]
                    raise _with_outcome(exc, f"restarted and Ready: {_list_or_none(done)}; restarted (not waited "
                                             f"for): {_list_or_none(hit)}; not restarted: "
                                             f"{_list_or_none([*rest, *untouched])}") from None
            try:
                wait_for_groups(watcher, goals, size=size, timeout=timeout, progress=say,
                                met=lambda n: bar.update(len(done) + n))
            except KeyboardInterrupt as exc:
                word = "terminated" if isinstance(exc, errors.Terminated) else "interrupted"
                say(f"{word}: restarted and Ready: {_list_or_none(done)}; in progress: "
                    f"{','.join(map(str, batch))}; untouched: {_list_or_none(untouched)}")
                raise
            except errors.WaitTimeout as exc:
                raise errors.WaitTimeout(
                    f"{exc.message}; stopped: restarted and Ready: {_list_or_none(done)}; not Ready: "
                    f"{','.join(map(str, batch))}; untouched: {_list_or_none(untouched)}",
                    hint=f"see: kubectl lws status {plan.lws} -n {plan.namespace}") from None
            done.extend(batch)
            serving |= set(batch)
            bar.update(len(done))
    app.info(f"rolling restart complete: {_plural(len(done))} re-created")
    return errors.EXIT_OK


def _template_restart(app: AppContext, plan: "RestartPlan", view, save_logs: Path | None,  # noqa: ANN001
                      wait: bool, timeout: float, server_dry: bool, suffix: str) -> int:
    from kubectl_lws.model.plans import template_restart_patch
    from kubectl_lws.waiting import GroupGoal, wait_for_groups_shown

    cluster = app.cluster
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with _optional_watcher(app, plan, wait and not server_dry) as watcher:
        if save_logs is not None:
            try:
                _save_logs(app, save_logs, plan.targets)
            except errors.LwsError as exc:
                raise _with_outcome(exc, "nothing was restarted") from None
        cluster.patch_lws(plan.lws, template_restart_patch(view, stamp), namespace=plan.namespace,
                          dry_run=server_dry)
        app.out(f"{KIND_PREFIX}/{plan.lws} restarted{suffix}")
        if watcher is not None and plan.targets:
            goals = [GroupGoal(t.index, t.pod_uids) for t in plan.targets]
            wait_for_groups_shown(watcher, goals, size=view.size, timeout=timeout, what="groups Ready again")
            app.info(f"{_plural(len(goals))} Ready again")
    return errors.EXIT_OK


# ---- helpers ------------------------------------------------------------------------------------

def _delete_leader(app: AppContext, plan: "RestartPlan", target: "GroupTarget", server_dry: bool,
                   suffix: str) -> bool:
    """Delete one group's leader (Foreground, UID precondition). False when there was nothing to delete."""
    if target.leader is None or target.leader_uid is None:
        app.warn(f"group {target.index}: no live leader pod, skipped")
        return False
    try:
        app.cluster.delete("pods", target.leader, namespace=plan.namespace, propagation="Foreground",
                           uid=target.leader_uid, dry_run=server_dry)
    except errors.NotFound:
        app.warn(f"group {target.index}: leader {target.leader} is already gone (being re-created)")
        return True
    except errors.Conflict:
        # The UID precondition failed: this group was re-created since the plan; never delete the new one.
        app.warn(f"group {target.index}: leader {target.leader} was already re-created; left alone")
        return True
    app.out(f"{KIND_PREFIX}/{plan.lws} group {target.index} restarted (leader {target.leader} "
               f"deleted){suffix}")
    if not server_dry:
        _leave_trace(app, plan, target)
    return True


def _leave_trace(app: AppContext, plan: "RestartPlan", target: "GroupTarget") -> None:
    """A RestartGroup event on the LWS naming the deleted leader, so that `record` and `history` say this
    incarnation ended by a restart; best effort (no right to create events: nothing is lost but that)."""
    from kubectl_lws.model.incarnation import restart_event
    from kubectl_lws.model.timeutil import utc_now

    try:
        app.cluster.create_event(plan.namespace, restart_event(plan.lws, plan.namespace, target.index,
                                                               target.leader or "", target.leader_uid or "",
                                                               utc_now()))
    except errors.LwsError:
        pass


def _log_files(directory: Path, pod: str, container: str) -> tuple[Path, Path]:
    from kubectl_lws.files import safe_component

    base = safe_component(f"{pod}_{container}")  # names from the cluster: never a path out of DIR
    return directory / f"{base}.log", directory / f"{base}.previous.log"


def _check_log_dir(directory: Path, plan: "RestartPlan") -> None:
    """Refuse before anything changes if saving would overwrite earlier saved logs.

    Pod names are the same in every incarnation of a group (``L-<i>``, ``L-<i>-<w>``), so the
    check uses those names rather than whichever pods happen to exist right now.
    """
    from kubectl_lws.files import check_target

    check_target(directory / "x", f"the logs to {directory}")  # a name too long, a file in the path
    if directory.exists() and not directory.is_dir():
        raise errors.UsageError(f"--save-logs: {directory} is not a directory")
    if not directory.exists():
        return
    taken = {p.name.split("_", 1)[0] for p in directory.glob("*.log")}
    names = {f"{plan.lws}-{t.index}" for t in plan.targets}
    names |= {f"{plan.lws}-{t.index}-{w}" for t in plan.targets for w in range(1, plan.size)}
    clash = sorted(names & taken)
    if clash:
        raise errors.UsageError(f"--save-logs: {directory} already holds logs of {', '.join(clash[:3])}; "
                                "use an empty directory so nothing is overwritten")


def _save_logs(app: AppContext, directory: Path, targets: Sequence["GroupTarget"]) -> None:
    """Current and previous logs of every container (init containers too) of the targets' pods.

    The pods are re-read so the files come from the incarnation about to be deleted. A missing
    previous log (400/404) is normal and skipped; any other failure stops before anything is deleted.
    Files are written to a hidden staging folder beside DIR and moved in only once every log is
    complete, so a failed save leaves nothing that would make the same command refuse to run again.
    """
    import os
    import shutil
    import tempfile

    from kubectl_lws.files import cannot_write
    from kubectl_lws.model.plans import containers_of

    cluster = app.cluster
    where = f"the logs to {directory}"
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name[:100]}.partial-", dir=directory.parent))
    except OSError as exc:
        raise cannot_write(where, exc) from None
    saved = 0
    try:
        for target in targets:
            for pod_name in target.pods:
                try:
                    pod = cluster.get("pods", pod_name, cluster.namespace)
                except errors.NotFound:
                    app.warn(f"--save-logs: pod {pod_name} is gone; no logs saved for it")
                    continue
                for container in containers_of(pod):
                    current, previous = _log_files(staging, pod_name, container)
                    for path, prev in ((current, False), (previous, True)):
                        what = f"{pod_name}/{container}{' (previous)' if prev else ''}"
                        try:
                            resp = cluster.pod_log_stream(pod_name, namespace=cluster.namespace,
                                                          container=container, previous=prev)
                        except (errors.Invalid, errors.NotFound) as exc:
                            if not prev:
                                app.warn(f"--save-logs: no log for {pod_name}/{container}: {exc.message}")
                            continue
                        except errors.LwsError as exc:
                            raise errors.LwsError(f"could not save the logs of {what}: {exc.message}; nothing "
                                                  f"was saved to {directory}") from None
                        try:
                            with open(path, "wb") as out:
                                for chunk in resp.stream(amt=65536, decode_content=False):
                                    out.write(chunk)
                        except OSError as exc:
                            raise cannot_write(f"the logs of {what} to {directory}", exc) from None
                        except Exception as exc:  # noqa: BLE001 — the stream broke (reset, cut) mid-log
                            raise errors.LwsError(f"could not save the logs of {what}: the log stream broke "
                                                  f"({type(exc).__name__}); nothing was saved to {directory}"
                                                  ) from None
                        finally:
                            resp.release_conn()
                        saved += 1
        try:
            if not directory.exists():
                staging.rename(directory)
            else:
                for item in staging.iterdir():
                    os.replace(item, directory / item.name)
        except OSError as exc:
            raise cannot_write(where, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    app.info(f"saved {saved} log file(s) to {directory}")


def _with_outcome(exc: errors.LwsError, outcome: str) -> errors.LwsError:
    """The same error (same exit code), its message ending with what was and was not done."""
    exc.message = f"{exc.message}; {outcome}"
    exc.args = (exc.message,)
    return exc


def _groups_word(indexes: Sequence[int]) -> str:
    return "group" if len(indexes) == 1 else "groups"


def _groups_text(plan: "RestartPlan") -> str:
    indexes = sorted(t.index for t in plan.targets)
    return ("group " if len(indexes) == 1 else "groups ") + ",".join(map(str, indexes))


def _plural(n: int) -> str:
    return f"{n} group" + ("" if n == 1 else "s")


def _list_or_none(indexes: Sequence[int]) -> str:
    return ",".join(map(str, indexes)) if indexes else "none"
