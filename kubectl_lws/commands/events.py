"""``kubectl lws events NAME``: one timeline of the events of an LWS, its StatefulSets, pods and services.

Request budget: one LIST of the namespace's events (core/v1, else events.k8s.io/v1: model/events
normalises and deduplicates both), plus one GET of the LWS only when no event matched (to tell "no
events" from "no such LWS"). Objects are matched by the names the controller gives them, so events of
deleted incarnations (an earlier leader pod, a re-created worker StatefulSet) stay under their group.
``-w`` lists once and then watches from that list's resourceVersion.
"""

from __future__ import annotations

from typing import Any, Sequence

import click

from kubectl_lws.options import LWS_NAME, DurationType, app_context, output_option

TYPES = ("Normal", "Warning")


@click.command("events")
@click.argument("name", required=False, type=LWS_NAME, metavar="NAME")
@click.option("-g", "--group", "group_filter", type=int, multiple=True, metavar="N",
              help="Only events of group N's objects (repeatable).")
@click.option("--since", type=DurationType(), default=None, metavar="DURATION",
              help="Only events last seen within this duration (e.g. 10m).")
@click.option("--types", default=None, metavar="TYPES", help="Comma-separated event types: Warning,Normal.")
@click.option("-w", "--watch", is_flag=True, help="After the list, print each new or repeated event (Ctrl-C to stop).")
@output_option(("table", "json", "yaml"), default="table")
def events(name: str | None, group_filter: Sequence[int], since: float | None, types: str | None,
           watch: bool, output: str) -> int:
    """Show the events of one LeaderWorkerSet as one timeline, with the group each one is about.

    \b
    Both event APIs are read and deduplicated; events of objects that no longer exist (earlier
    incarnations of a re-created group) stay under their group. Events expire (kube-apiserver
    --event-ttl, 1h by default), so this is the recent history only.

    \b
    Examples:
      kubectl lws events vllm
      kubectl lws events vllm -g 1 --types Warning
      kubectl lws events vllm --since 10m -o json
      kubectl lws events vllm -w
    """
    from kubectl_lws import errors

    if not name:
        raise errors.UsageError("NAME is required: kubectl lws events NAME",
                                hint="list them with: kubectl lws list")
    wanted_types = _types(types)
    if any(g < 0 for g in group_filter):
        raise errors.UsageError("-g/--group takes a group index >= 0")
    if since is not None and since <= 0:
        raise errors.UsageError("--since must be a positive duration (e.g. 10m)")
    app = app_context()
    cluster = app.cluster
    ns = cluster.namespace
    selector = f"type={wanted_types[0]}" if len(wanted_types) == 1 else None
    if watch:
        return _watch(app, name, ns, list(group_filter), since, wanted_types, selector, output)
    items, info = cluster.list_events(ns, field_selector=selector)
    mine = _select(items, name, list(group_filter), since, wanted_types)
    if not mine:
        cluster.get_lws(name, ns)  # not found -> the standard error with close names
    _print(app, name, ns, mine, info, output)
    return 0


def _types(text: str | None) -> list[str]:
    from kubectl_lws import errors

    if text is None:
        return list(TYPES)
    out = []
    for part in text.split(","):
        part = part.strip()
        match = next((t for t in TYPES if t.lower() == part.lower()), None)
        if match is None:
            raise errors.UsageError(f'--types: unknown event type "{part}" (use Warning, Normal or both)')
        if match not in out:
            out.append(match)
    return out


def _others(evs: Sequence[Any], name: str) -> list[str]:
    from kubectl_lws.model.events import other_lws_names

    return other_lws_names(evs, name)


def _select(items: list[dict], name: str, groups: list[int], since: float | None, types: list[str]) -> list:
    from datetime import timedelta

    from kubectl_lws.model import events as E
    from kubectl_lws.model.timeutil import utc_now

    evs = E.normalize_all(E.raw_of_lws(items, name))
    mine = E.events_of_lws(evs, name, others=_others(evs, name))
    if groups:
        mine = [le for le in mine if le.group in groups]
    if types != list(TYPES):
        mine = [le for le in mine if le.event.type in types]
    if since is not None:
        cutoff = utc_now() - timedelta(seconds=since)
        mine = [le for le in mine if (le.event.last or le.event.first) is not None
                and (le.event.last or le.event.first) >= cutoff]
    return mine


def _print(app: Any, name: str, ns: str, mine: list, info: dict, output: str) -> None:
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.render.events import events_doc, events_table
    from kubectl_lws.render.output import emit

    if emit(events_doc(name, ns, mine, info), output) if output in ("json", "yaml") else False:
        return
    if not mine:
        app.info(f"No events found for leaderworkerset {name} in {ns} namespace (events expire after 1h by default).")
        return
    app.out(events_table(mine, utc_now(), color=app.use_color()))


def _watch(app: Any, name: str, ns: str, groups: list[int], since: float | None, types: list[str],
           selector: str | None, output: str) -> int:
    """List once, then one line (or JSON document) per new or repeated event until Ctrl-C."""
    import sys

    from kubectl_lws.model import events as E
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.render.events import item_json, watch_header, watch_line
    from kubectl_lws.render.output import dump_json_line, dump_yaml

    cluster = app.cluster
    seen: dict[str, tuple] = {}
    others: list[str] = []
    header = False

    def show(les: list) -> None:
        nonlocal header
        for le in les:
            if output == "json":
                dump_json_line(item_json(le))
            elif output == "yaml":
                sys.stdout.write("---\n")
                dump_yaml(item_json(le))
            else:
                if not header:
                    app.out(watch_header())
                    header = True
                app.out(watch_line(le, utc_now()))
        sys.stdout.flush()

    def fresh(raw: list[dict], window: float | None) -> list:
        nonlocal others
        evs = E.normalize_all(raw)
        others = sorted(set(others) | set(_others(evs, name)))
        out = []
        for le in E.events_of_lws(evs, name, others=others):
            ev = le.event
            key = (ev.count, ev.last)
            if seen.get(ev.uid) == key:
                continue
            seen[ev.uid] = key
            if groups and le.group not in groups:
                continue
            if ev.type not in types:
                continue
            if window is not None:
                from datetime import timedelta

                when = ev.last or ev.first
                if when is None or when < utc_now() - timedelta(seconds=window):
                    continue
            out.append(le)
        return out

    first = True
    try:
        for etype, payload in cluster.list_watch("events", ns, field_selector=selector):
            if etype == "SYNC":
                les = fresh(payload, since if first else None)
                if first and not les and not payload:
                    cluster.get_lws(name, ns)
                first = False
                show(les)
            elif etype in ("ADDED", "MODIFIED"):
                show(fresh([payload], None))
    finally:
        cluster.close_streams()
    return 0
