"""``kubectl lws status ds/NAME``: a DisaggregatedSet as one object (roles, slices, revisions, rollout, groups).

Request budget of a healthy set (checked by tests and ``bench/ds``): GET the DisaggregatedSet, LIST its
child LWS, LIST its pods (slim records, paged) and LIST its ``-prv`` Services, all selected by the DS's
name label: 4, whatever the number of roles, slices and groups. An unready group adds the events LIST
(causes, the stall's cause); an External role adds the LIST of role scalers and of HPAs; ``--placement``
adds the node LIST. ``--watch`` keeps that shape with the shared live view (``waiting.Informer``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from kubectl_lws import errors
from kubectl_lws.model.target import Target


def run(app: Any, target: Target, *, group_filter: Sequence[int], roles: Sequence[str], slices: Sequence[int],
        pods: bool, placement: bool | None, watch: bool, timeout: float | None, exit_code: bool,
        stuck_after: float, read_events: bool | None, output: str) -> int:
    from kubectl_lws.targets import read_ds

    if output == "wide":
        pods = True
    cluster = app.cluster
    if watch:
        return _watch(app, target, group_filter, roles, slices, pods=pods, placement=bool(placement),
                      timeout=timeout, exit_code=exit_code, stuck_after=stuck_after, output=output)
    read = read_ds(cluster, target.name, nodes=bool(placement))
    for note in read.notes:
        app.warn(note)
    da = _assess(read.ds, read.lws, read.pods, read.services, read.scalers, read.hpas, read.nodes, stuck_after)
    shown = select(da, group_filter, roles, slices)
    _explain(app, da, read_events)
    shown = select(da, group_filter, roles, slices)
    _print(app, da, shown, pods=pods, output=output)
    return code(da, shown, exit_code, filtered=bool(group_filter or roles or slices))


def _assess(ds: dict, lws: list, pods: list, services: list, scalers: list | None, hpas: list,
            nodes: list | None, stuck_after: float) -> Any:
    from kubectl_lws.model.ds import assess_ds, ds_view
    from kubectl_lws.model.health import nodes_by_name

    return assess_ds(ds_view(ds), lws, pods, services=services, scalers=scalers, hpas=hpas,
                     nodes=nodes_by_name(nodes), stuck_after=stuck_after)


def select(da: Any, group_filter: Sequence[int], roles: Sequence[str], slices: Sequence[int]) -> list[tuple]:
    """The (child, group) pairs the filters leave; a role, slice or group that does not exist is exit 2."""
    from kubectl_lws.model.ds import check_scope

    view = da.view
    check_scope(view, roles, slices, (c.ref.slice for c in da.children))
    kids = [c for c in da.children if (not roles or c.ref.role in roles) and (not slices or c.ref.slice in slices)]
    out = [(c, g) for c in kids for g in c.a.groups if not group_filter or g.index in group_filter]
    if group_filter:
        have = sorted({g.index for c in kids for g in c.a.groups})
        bad = [i for i in group_filter if i not in have]
        if bad:
            raise errors.UsageError(f"group {', '.join(map(str, bad))} does not exist in the selected child LWS of "
                                    f'disaggregatedset "{view.name}" (groups: {_span(have) if have else "none"})')
    return out


def _span(values: Sequence[int]) -> str:
    from kubectl_lws.model.logsel import describe_indexes

    return describe_indexes(values)


def _explain(app: Any, da: Any, read_events: bool | None) -> None:
    """One events LIST of the namespace when some group is not Ready (or --events)."""
    from kubectl_lws.model import ds as D
    from kubectl_lws.model import events as E
    from kubectl_lws.reads import namespace_events

    if read_events is False or (read_events is None and not D.needs_events(da)):
        return
    items, info = namespace_events(app, da.view.namespace)
    D.explain(da, None if items is None else E.normalize_all(E.raw_of_lws(items, da.view.name)), info=info)


def code(da: Any, shown: list[tuple], exit_code: bool, *, filtered: bool) -> int:
    """--exit-code: 3 when a shown group is not Ready or (unfiltered) the set is not Healthy."""
    if not exit_code:
        return 0
    from kubectl_lws.model.health import HEALTHY

    if any(not g.healthy for _, g in shown) or (not filtered and da.state != HEALTHY):
        return errors.EXIT_UNHEALTHY
    return 0


def _print(app: Any, da: Any, shown: list[tuple], *, pods: bool, output: str) -> None:
    from kubectl_lws.render.ds import render_status, status_doc
    from kubectl_lws.render.output import emit

    if output in ("json", "yaml"):
        emit(status_doc(da, shown=shown), output)
        return
    color = app.use_color()
    app.out(render_status(da, shown, pods=pods, color=color))


# ---- watch ------------------------------------------------------------------------------------------------

def _watch(app: Any, target: Target, group_filter: Sequence[int], roles: Sequence[str], slices: Sequence[int], *,
           pods: bool, placement: bool, timeout: float | None, exit_code: bool, stuck_after: float,
           output: str) -> int:
    """Redraw (TTY) or print change lines from the live view: the DS (field selector on its name), its
    child LWS, pods and -prv Services (its name label), role scalers when a role is External."""
    import shutil

    from kubectl_lws.model import keys
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.render.ds import change_lines, render_status, status_doc
    from kubectl_lws.render.output import dump_json_line, dump_yaml
    from kubectl_lws.render.status import _clip
    from kubectl_lws.targets import has_external_roles
    from kubectl_lws.terminal import can_redraw
    from kubectl_lws.waiting import Informer

    cluster = app.cluster
    ds = cluster.get_ds(target.name)  # fail fast (with close names) before opening streams
    ns = ds["metadata"]["namespace"]
    selector = keys.ds_selector(target.name)
    sources: list[tuple] = [(keys.DS_PLURAL, None, f"metadata.name={target.name}"), (keys.LWS_PLURAL, selector),
                            ("pods", selector), ("services", selector)]
    optional = {"services"}
    if has_external_roles(ds):
        sources += [(keys.DSRS_PLURAL, selector), ("horizontalpodautoscalers", None)]
        optional |= {keys.DSRS_PLURAL, "horizontalpodautoscalers"}
    if placement:
        sources.append(("nodes", None))
        optional.add("nodes")
    view = Informer(cluster, ns, sources, optional=optional, name=f"ds/{target.name}")
    view_kinds = {src[0] for src in sources}
    tty = can_redraw(sys.stdout) and output in ("table", "wide")
    color = app.use_color()
    deadline = None if timeout is None else time.monotonic() + timeout
    prev = None
    last = None
    leaders: dict = {}
    seen = -1
    last_draw = 0.0
    if tty:
        sys.stdout.write("\x1b[?1049h\x1b[?25l")
        sys.stdout.flush()
    try:
        view.start(timeout=None)
        while True:
            wait = 0.25 if deadline is None else min(0.25, max(0.0, deadline - time.monotonic()))
            changes = view.wait_change(seen, wait)
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not view.synced:
                continue
            refresh = tty and time.monotonic() - last_draw >= 1.0
            if changes == seen and not refresh:
                continue
            seen = changes
            mine = view.items(keys.DS_PLURAL)
            if not mine:
                raise errors.LwsError(f'disaggregatedset "{target.name}" was deleted')
            scalers = view.items(keys.DSRS_PLURAL) if keys.DSRS_PLURAL in view_kinds else None
            hpas = view.items("horizontalpodautoscalers") if scalers is not None else []
            nodes = view.items("nodes") if placement and "nodes" not in view.forbidden else None
            da = _assess(mine[0], view.items(keys.LWS_PLURAL), view.items("pods"), view.items("services"),
                         scalers, hpas, nodes, stuck_after)
            shown = select(da, group_filter, roles, slices)
            last = (da, shown)
            now = utc_now()
            if output in ("json", "yaml"):
                doc = status_doc(da, shown=shown)
                from kubectl_lws.commands.status import _doc_key

                if prev is None or _doc_key(doc) != _doc_key(prev):
                    if output == "yaml":
                        sys.stdout.write("---\n")
                        dump_yaml(doc)
                    else:
                        dump_json_line(doc)
                    sys.stdout.flush()
                prev = doc
            elif tty:
                size = shutil.get_terminal_size((120, 40))
                text = render_status(da, shown, pods=pods, color=color)
                lines = [f"Every change, last at {now.strftime('%Y-%m-%dT%H:%M:%SZ')}   (Ctrl-C to quit)"] + \
                    text.splitlines()
                if len(lines) > size.lines:
                    lines = lines[: size.lines - 1] + [f"... {len(lines) - size.lines + 1} more lines"]
                sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(_clip(x, size.columns) for x in lines) + "\n")
                sys.stdout.flush()
                last_draw = time.monotonic()
            else:
                if prev is None:
                    app.out(render_status(da, shown, pods=pods, color=color))
                    app.out()
                for line in change_lines(prev, da, now, leaders):
                    app.out(line)
                sys.stdout.flush()
                prev = da
    finally:
        view.close()
        if tty:
            sys.stdout.write("\x1b[?25h\x1b[?1049l")
            sys.stdout.flush()
    if last is None:
        return 0
    return code(last[0], last[1], exit_code, filtered=bool(group_filter or roles or slices))
