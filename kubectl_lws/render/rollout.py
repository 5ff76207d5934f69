"""Text for ``kubectl lws rollout``: plans (stderr), status lines, history tables.

Only formatting: every number and decision comes from ``kubectl_lws.model.rollout``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from kubectl_lws.model.rollout import (HISTORY_NOTE, HistoryEntry, PartitionPlan, RolloutStatus, UndoPlan,
                                       groups_phrase, spans)
from kubectl_lws.model.timeutil import age_seconds
from kubectl_lws.model.words import plural
from kubectl_lws.render.output import human_age, table

ACTION_TITLES = {"canary": "Canary", "promote": "Promote", "pause": "Pause", "resume": "Resume"}


def plan_title(plan: PartitionPlan) -> str:
    return (f"{ACTION_TITLES.get(plan.action, plan.action)} LeaderWorkerSet {plan.namespace}/{plan.name} "
            f"({plural(plan.replicas, 'group')} of {plan.size} pods, current revision {plan.current_key or '?'}):")


def plan_lines(plan: PartitionPlan, extra_notes: Sequence[str] = ()) -> list[str]:
    """The plan as indented lines: partition, re-created now, staying, capacity, notes."""
    lines: list[str] = []
    if plan.changes_partition and plan.new_partition >= plan.replicas:
        lines.append(f"partition {plan.old_partition} -> {plan.new_partition} (>= {plan.replicas} replicas: "
                     "no group is updated, the rollout is held)")
    elif plan.changes_partition:
        lines.append(f"partition {plan.old_partition} -> {plan.new_partition} "
                     f"(groups >= {plan.new_partition} get the current revision)")
    else:
        lines.append(f"partition stays {plan.new_partition}")
    if plan.recreate_now:
        olds = sorted({plan.old_revisions.get(i) or "?" for i in plan.recreate_now})
        lines.append(f"re-created now: {groups_phrase(plan.recreate_now)}, highest first, each group whole "
                     f"(revision {', '.join(olds)} -> {plan.current_key or 'the new revision'})")
    elif plan.new_partition < plan.replicas and not plan.already_updated:
        lines.append("re-created now: none")
    elif plan.new_partition < plan.replicas:
        lines.append(f"re-created now: none ({groups_phrase(plan.already_updated)} already on "
                     f"{plan.current_key}); the next template change updates groups >= {plan.new_partition} only "
                     f"({plural(plan.replicas - plan.new_partition, 'group')})")
    else:
        lines.append("re-created now: none (every group is held)")
    if plan.recreate_now and plan.already_updated:
        lines.append(f"already on the current revision: {groups_phrase(plan.already_updated)}")
    if plan.held:
        kept = [i for i in plan.held if i not in plan.held_updated]
        what = f"stay as they are: {groups_phrase(plan.held)}"
        if kept:
            olds = sorted({plan.old_revisions.get(i) or "?" for i in kept})
            what += f" ({len(kept)} on {', '.join(olds)})"
        lines.append(what)
    for key, value in plan.strategy_patch.items():
        was = plan.old_strategy.get(key)
        if plan.action == "pause" and key == "maxSurge":
            why = "a template change while paused starts no surge group either; resume restores it"
        elif plan.action == "pause":
            why = "maxSurge and maxUnavailable cannot both be 0; nothing is updated while paused"
        else:
            why = "put back what `rollout pause` held"
        lines.append(f"{key} {was} -> {value} ({why})")
    if plan.surge_removed:
        lines.append(f"surge {groups_phrase(plan.surge_removed)}: removed by the controller while maxSurge is 0 "
                     f"(the groups 0-{plan.replicas - 1} keep serving)")
    elif plan.surge_groups:
        tail = ("removed once every group is updated and ready" if plan.new_partition == 0
                else "kept until the partition is 0 and the rollout finishes")
        lines.append(f"surge {groups_phrase(plan.surge_groups)}: {tail}")
    if plan.action in ("canary", "promote") and (plan.surge_on_change or plan.surge_groups) \
            and plan.new_partition < plan.replicas:
        regular = plan.replicas - plan.new_partition
        surge = plan.new_template_groups - regular
        lines.append(f"groups on the new template: {plan.new_template_groups} ({plural(regular, 'group')} >= "
                     f"partition {plan.new_partition} + {plural(surge, 'surge group')} (maxSurge="
                     f"{plan.strategy_patch.get('maxSurge', plan.max_surge)}), kept until the partition is 0): "
                     "surge groups are born on the new template whatever the partition says")
    if plan.recreate_now:
        lines.append(f"serving capacity during the step: at least {plan.min_serving} of "
                     f"{plural(plan.replicas + len(plan.surge_groups), 'group')} ready "
                     f"(now {plan.ready_now}); up to {plan.down_at_once} re-created at once "
                     f"(maxUnavailable={plan.max_unavailable}, maxSurge={plan.max_surge})")
    else:
        lines.append(f"serving capacity during the step: unchanged ({plan.ready_now} of "
                     f"{plural(plan.replicas + len(plan.surge_groups), 'group')} ready)")
    for key, value in plan.annotation_patch.items():
        if value is None:
            lines.append(f"annotation {key} removed" + ("" if plan.action == "resume" else
                                                         " (this ends the pause saved by `rollout pause`)"))
        else:
            what = {"paused-from-partition": "the partition", "paused-from-max-surge": "the maxSurge",
                    "paused-from-max-unavailable": "the maxUnavailable"}.get(key.rsplit("/", 1)[-1], "the value")
            lines.append(f"annotation {key}={value} ({what} `rollout resume` restores)")
    for note in (*plan.notes, *extra_notes):
        lines.append(f"note: {note}")
    return lines


def undo_title(plan: UndoPlan) -> str:
    return (f"Undo LeaderWorkerSet {plan.namespace}/{plan.name} to revision {plan.to_revision} "
            f"({plan.to_key}):")


def undo_lines(plan: UndoPlan, extra_notes: Sequence[str] = ()) -> list[str]:
    def images(pair: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
        leader, worker = pair
        return f"leader {', '.join(leader) or '-'} / worker {', '.join(worker) or '-'}"

    lines = [f"put back leaderWorkerTemplate and networkConfig of revision {plan.to_revision} "
             f"(current revision {plan.from_key})",
             f"images: {images(plan.images_from)} -> {images(plan.images_to)}"]
    if plan.recreate:
        lines.append(f"re-created: {groups_phrase(plan.recreate)}, highest first (groups already on "
                     f"{plan.to_key} count as updated at once and are not touched)")
    else:
        lines.append("re-created: none (every group >= the partition already runs it)")
    if plan.held:
        lines.append(f"stay as they are (below partition {plan.partition}): {groups_phrase(plan.held)}")
    for note in extra_notes:
        lines.append(f"note: {note}")
    return lines


def status_line(status: RolloutStatus) -> str:
    return status.message


def history_table(entries: Sequence[HistoryEntry], *, now: datetime | None = None) -> str:
    rows = []
    for e in entries:
        rows.append([str(e.revision) + (" *" if e.current else ""), e.key or "", human_age(age_seconds(e.created, now)),
                     ", ".join(e.leader_images) or "-", ", ".join(e.worker_images) or "-",
                     spans(e.groups) if e.groups else "-"])
    return table(["revision", "hash", "age", "leader image", "worker image", "groups"], rows)


def history_footer(entries: Sequence[HistoryEntry]) -> list[str]:
    lines = ["* = current revision (the leader StatefulSet's template-revision-hash)"]
    lines.append(f"note: {HISTORY_NOTE}.")
    return lines
