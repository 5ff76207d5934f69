"""``kubectl lws rollout status|history ds/NAME``: a DisaggregatedSet's rollout, followed and listed.

The controller rolls each slice on its own: the new revision's LWS start at 0 and grow while the old ones
drain, every role in step. ``status`` follows that through the shared live view (watches on the DS, its child
LWS and their pods; no polling) with a progress line per change, and ends as ``rollout status`` of an LWS
does: 0 done, 3 the new revision's groups are failing (crash loop, image pull at once; unschedulable and the
like after a short grace, once nothing of the set is terminating), 4 timed out. ``history`` lists the
revisions whose child LWS still exist (the controller deletes an old revision once drained) and the
DisaggregatedSet's events, which name the revisions rollouts started.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from kubectl_lws import errors
from kubectl_lws.model.target import Target

# As for an LWS: a group of the new revision must look failing this long before the rollout is failing.
FAILING_GRACE_SECONDS = 3.0
_STARTED = re.compile(r"\brevision ([0-9a-f]{6,})\b")


def progress_line(da: Any) -> str:
    """``rolling out X: slice 0 prefill 1/2 decode 0/2 new ready; ...`` or the done line."""
    if done(da):
        per = ", ".join(f"{r.name} {r.updated}/{r.desired}" for r in da.roles)
        return f'disaggregatedset "{da.view.name}" rolled out: revision {da.target_revision}, {per} ready'
    return f'disaggregatedset "{da.view.name}": {da.state}: {da.reason}'


def done(da: Any) -> bool:
    """The target revision has every role's desired groups ready in every slice, and no old revision has groups."""
    if da.target_revision is None or da.rolling:
        return False
    for r in da.roles:
        if r.desired is None or r.updated < r.desired:
            return False
    return not any(s.removed for s in da.slices)


def failing_groups(da: Any) -> list[tuple[str, bool]]:
    """(text, definitive) for the failing groups of the target revision (the ones a rollout waits for)."""
    from kubectl_lws.model.health import BAD_WAITING_REASONS

    out = []
    for c in da.children:
        if not c.target:
            continue
        for g in c.a.groups:
            if not g.failing or g.only_not_ready_yet:
                continue
            definitive = any(p.problem is not None and p.problem.failing and
                             p.problem.reason.split(" ")[0] in BAD_WAITING_REASONS for p in g.pods)
            out.append((f"{c.ref.role} slice {c.ref.slice} group {g.index}: {g.label}", definitive))
    return out


def _informer(app: Any, name: str, namespace: str, external: bool) -> Any:
    """Watches on the set, its child LWS and pods (and its role scalers when a role is External: their
    replicas are the role's count)."""
    from kubectl_lws.model import keys
    from kubectl_lws.waiting import Informer

    selector = keys.ds_selector(name)
    sources: list[tuple] = [(keys.DS_PLURAL, None, f"metadata.name={name}"), (keys.LWS_PLURAL, selector),
                            ("pods", selector)]
    if external:
        sources.append((keys.DSRS_PLURAL, selector))
    return Informer(app.cluster, namespace, sources, optional={keys.DSRS_PLURAL}, name=f"ds/{name}")


def _assess_live(informer: Any, name: str, seen: bool, external: bool) -> Any:
    from kubectl_lws.model import keys
    from kubectl_lws.model.ds import assess_ds, ds_view

    items = informer.items(keys.DS_PLURAL)
    if not items:
        raise errors.LwsError(f'disaggregatedset "{name}" was deleted' + (" while waiting" if seen else ""))
    return assess_ds(ds_view(items[0]), informer.items(keys.LWS_PLURAL), informer.items("pods"),
                     scalers=informer.items(keys.DSRS_PLURAL) if external else None)


def follow(app: Any, name: str, namespace: str, timeout: float, *, progress: Callable[[str], None],
           until: Callable[[Any], bool] = done) -> Any:
    """Watch until ``until(da)``; UnhealthyError (3) when the new revision fails, WaitTimeout (4) at the deadline."""
    from kubectl_lws.targets import has_external_roles
    from kubectl_lws.waiting import FailingGrace, watch_until

    external = has_external_roles(app.cluster.get_ds(name, namespace))
    informer = _informer(app, name, namespace, external)
    state: dict[str, Any] = {"da": None}
    grace = FailingGrace(FAILING_GRACE_SECONDS)

    def check() -> tuple[bool, str]:
        da = state["da"] = _assess_live(informer, name, state["da"] is not None, external)
        line = progress_line(da)
        if until(da):
            return True, line
        bad = failing_groups(da)
        terminating = any((p.get("metadata") or {}).get("deletionTimestamp") for p in informer.items("pods"))
        if grace.failed(bool(bad), definitive=any(d for _, d in bad), terminating=terminating):
            progress(line)
            raise errors.UnhealthyError(f"rollout of ds/{name} is failing: " + "; ".join(t for t, _ in bad))
        return False, line

    watch_until(informer, check, timeout=timeout, progress=progress, what=f"the rollout of ds/{name}",
                tick=FAILING_GRACE_SECONDS / 4)
    return state["da"]


def wait_healthy(app: Any, name: str, namespace: str, timeout: float, *, progress: Callable[[str], None]) -> Any:
    """``scale ds/NAME --wait``: until the set is Healthy (every role at its count, ready, one revision)."""
    from kubectl_lws.model.health import HEALTHY

    return follow(app, name, namespace, timeout, progress=progress,
                  until=lambda da: da.state == HEALTHY and done(da))


def status(app: Any, target: Target, *, watch: bool, timeout: float, output: str) -> int:
    from kubectl_lws.render.output import dump_json

    cluster = app.cluster
    if not watch:
        from kubectl_lws.commands.status_ds import _assess
        from kubectl_lws.targets import read_ds

        read = read_ds(cluster, target.name)
        da = _assess(read.ds, read.lws, read.pods, read.services, read.scalers, read.hpas, None, 300.0)
        if output == "json":
            dump_json(status_json(da))
        else:
            app.out(progress_line(da))
        bad = failing_groups(da)
        if bad:
            app.info(f"rollout of ds/{target.name} is failing: " + "; ".join(t for t, _ in bad))
        return errors.EXIT_OK if done(da) else errors.EXIT_UNHEALTHY
    da = follow(app, target.name, cluster.namespace, timeout,
                progress=lambda line: app.info(line) if output == "json" else app.out(line))
    if output == "json":
        dump_json(status_json(da))
    return errors.EXIT_OK


def status_json(da: Any) -> dict:
    return {"kind": "DisaggregatedSetRolloutStatus", "name": da.view.name, "namespace": da.view.namespace,
            "done": done(da), "targetRevision": da.target_revision, "state": da.state, "reason": da.reason,
            "message": progress_line(da), "failing": [t for t, _ in failing_groups(da)],
            "slices": [s.to_json() for s in da.slices]}


# ---- history ----------------------------------------------------------------------------------------------

def history_doc(target_name: str, namespace: str, children: list, target: str | None, events: list,
                events_error: str | None = None) -> dict:
    """Revisions with child LWS present (oldest first) and the DS's events (those naming a revision first)."""
    from kubectl_lws.model.groups import lws_view

    revs: dict[str, dict] = {}
    for ref, lws in children:
        v = lws_view(lws)
        entry = revs.setdefault(ref.revision, {"revision": ref.revision, "target": ref.revision == target,
                                               "created": v.creation_timestamp, "slices": [], "roles": {},
                                               "images": {}, "lws": []})
        if v.creation_timestamp and (entry["created"] is None or v.creation_timestamp < entry["created"]):
            entry["created"] = v.creation_timestamp
        if ref.slice not in entry["slices"]:
            entry["slices"].append(ref.slice)
        role = entry["roles"].setdefault(ref.role, {"replicas": 0, "statusReady": 0})
        role["replicas"] += v.replicas
        role["statusReady"] += int(v.status.get("readyReplicas") or 0)
        images = entry["images"].setdefault(ref.role, [])
        for tmpl in (v.leader_template(), v.worker_template()):
            for c in (tmpl.get("spec") or {}).get("containers") or []:
                if c.get("image") and c["image"] not in images:
                    images.append(c["image"])
        entry["lws"].append(v.name)
    ordered = sorted(revs.values(), key=lambda e: (e["target"], e["created"] or ""))  # children come in role order
    present = set(revs)
    started = []
    for ev in events:
        m = _STARTED.search(ev.message) if ev.reason == "RollingUpdateStarted" else None
        if m and m.group(1) not in present and m.group(1) not in started:
            started.append(m.group(1))
    return {"kind": "DisaggregatedSetHistory", "name": target_name, "namespace": namespace,
            "targetRevision": target, "revisions": ordered, "gone": started,
            "events": [ev.to_json() for ev in events], "eventsError": events_error,
            "note": "the controller deletes a revision's LWS once drained, so only revisions still running have "
                    "rows; the events recorder merges the set's events by reason (one per reason and generation: "
                    "the message is the first occurrence's, the count is written minutes later), and events expire "
                    "(1h by default)"}


def history(app: Any, target: Target, *, output: str) -> int:
    from kubectl_lws.model import events as E
    from kubectl_lws.model.ds import ds_view, target_revision
    from kubectl_lws.render.output import emit, human_age, table
    from kubectl_lws.render.safe import term
    from kubectl_lws.targets import resolve

    cluster = app.cluster
    res = resolve(cluster, target)
    target_rev, _ = target_revision(ds_view(res.ds), res.children)
    events: list = []
    events_error = None
    try:
        items, _ = cluster.list_events(res.namespace, field_selector=f"involvedObject.kind=DisaggregatedSet,"
                                                                    f"involvedObject.name={target.name}")
        events = [ev for ev in E.normalize_all(items) if ev.kind == "DisaggregatedSet"
                  and ev.object_name == target.name]
    except (errors.Forbidden, errors.NotFound) as exc:
        events_error = exc.message
        app.warn(f"cannot list events ({'forbidden' if isinstance(exc, errors.Forbidden) else 'not served'}): the "
                 "set's rollout events are not shown")
    doc = history_doc(target.name, res.namespace, res.children, target_rev, events, events_error)
    if emit(doc, output):
        return errors.EXIT_OK
    from kubectl_lws.model.timeutil import age_seconds, utc_now

    now = utc_now()
    rows = []
    for e in doc["revisions"]:
        roles = ", ".join(f"{term(k)} {v['statusReady']}/{v['replicas']}" for k, v in e["roles"].items())
        images = "; ".join(f"{term(k)} {', '.join(term(i) for i in v)}" for k, v in e["images"].items())
        rows.append([term(e["revision"]), "target" if e["target"] else "draining" if
                     all(v["replicas"] == 0 for v in e["roles"].values()) else "serving",
                     human_age(age_seconds(e["created"], now)), ",".join(map(str, sorted(e["slices"]))), roles,
                     images])
    app.out(table(["REVISION", "STATE", "AGE", "SLICES", "READY/REPLICAS", "IMAGES"], rows))
    if doc["gone"]:
        app.out(f"earlier revisions (from RollingUpdateStarted events, LWS deleted): {', '.join(doc['gone'])}")
    if events:
        app.out()
        app.out(table(["LAST SEEN", "TYPE", "REASON", "COUNT", "MESSAGE"],
                         [[human_age((now - (ev.last or ev.first)).total_seconds()) if (ev.last or ev.first) else "-",
                           ev.type, term(ev.reason), str(ev.count), term(ev.message)] for ev in events]))
    app.info("note: " + doc["note"])
    return errors.EXIT_OK
