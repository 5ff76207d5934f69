"""``kubectl lws status NAME``: groups, pods, placement and health of one LWS.

Request budget (checked by tests and ``bench/status``): one GET of the LWS, one LIST of its pods,
one LIST of the nodes they run on (``kubernetes.io/hostname in (...)``) when placement is shown, and
one LIST of the namespace's events when ``model/verdict.events_needed`` says so (some group not
Ready, or a leader young enough for a re-creation loop): 3-4 whatever the number of groups. A LIST
is paged (500 a page, as kubectl) and counts once however many pages it takes; each page is reduced
to slim records before the next is read. The state comes from ``model/verdict.judge`` (via
``reads.verdict``), the verdict every view uses. ``--watch`` keeps that shape: the shared live view
(``waiting.Informer``) with list+watch streams on the LWS, its pods, its events (and nodes), no polling.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

import click

from kubectl_lws.options import LWS_NAME, DurationType, app_context, output_option
from kubectl_lws.reads import EVENTS_FORBIDDEN, NODES_FORBIDDEN


@click.command("status")
@click.argument("name", required=False, type=LWS_NAME, metavar="NAME")
@click.option("-g", "--group", "group_filter", type=int, multiple=True, metavar="N",
              help="Only show group N (repeatable).")
@click.option("--pods", is_flag=True, help="Show every pod under its group (leader first).")
@click.option("--topology-key", "topology_keys", multiple=True, metavar="KEY",
              help="Also show the domains of this node label per group (repeatable).")
@click.option("--placement/--no-placement", default=True, show_default=True,
              help="Read nodes to show topology domains, NotReady nodes and violations (one node LIST).")
@click.option("-w", "--watch", is_flag=True, help="Keep watching and redraw (TTY) or print a line per change.")
@click.option("--timeout", type=DurationType(), default=None, metavar="DURATION",
              help="With --watch: stop after this long (exit code as without --watch).")
@click.option("--exit-code", is_flag=True, help="Exit 3 when any group is not healthy.")
@click.option("--stuck-after", type=DurationType(), default=300.0, show_default="5m", metavar="DURATION",
              help="A group not Ready this long with a cause from events is shown as Stuck.")
@click.option("--events/--no-events", "read_events", default=None,
              help="Read the namespace's events (causes, re-creation history): by default only when some "
                   "group is not Ready (one more request).")
@output_option(("table", "wide", "json", "yaml"), default="table")
def status(name: str | None, group_filter: Sequence[int], pods: bool, topology_keys: Sequence[str],
           placement: bool, watch: bool, timeout: float | None, exit_code: bool, stuck_after: float,
           read_events: bool | None, output: str) -> int:
    """Show the groups of one LeaderWorkerSet: readiness, revision, leader, placement and state.

    \b
    Group states: Ready, Degraded, Pending, Recreating, Missing, NodeNotReady, Updating.
    LWS states: Healthy, Degraded, Progressing, Canary, Paused, Unavailable, Scaling.

    \b
    Examples:
      kubectl lws status vllm
      kubectl lws status vllm --pods -g 2
      kubectl lws status vllm --topology-key cloud.google.com/gke-nodepool -o wide
      kubectl lws status vllm -w
      kubectl lws status vllm --exit-code -o json > status.json
    """
    from kubectl_lws import errors

    if not name:
        raise errors.UsageError("NAME is required: kubectl lws status NAME",
                                hint="list them with: kubectl lws list")
    if timeout is not None and not watch:
        # status never waits; silently ignoring the flag would let a script believe it did
        raise errors.UsageError("--timeout only applies with --watch",
                                hint=f"kubectl lws status {name} --watch --timeout DURATION")
    app = app_context()
    cluster = app.cluster
    if watch:
        return _watch(app, name, list(group_filter) or None, pods=pods, extra_keys=topology_keys,
                      placement=placement, timeout=timeout, exit_code=exit_code, output=output,
                      read_events=read_events, stuck_after=stuck_after)
    from kubectl_lws.reads import namespace_events, read_nodes, verdict

    obj = cluster.get_lws(name)
    ns = obj["metadata"]["namespace"]
    # slim records, page by page: memory follows the number of pods, not the size of their bodies
    pod_list = cluster.list_pods(ns, label_selector=_selector(name), slim=True)
    nodes = read_nodes(app, pod_list) if placement else None
    a = verdict(obj, pod_list, nodes, events=lambda: namespace_events(app, ns), read_events=read_events,
                stuck_after=stuck_after, layers=layers_of(app))
    place = _placement(a, nodes, topology_keys)
    groups = _check_groups(a, list(group_filter) or None)
    _print(app, a, place, groups, pods=pods, output=output)
    return _code(a, groups, exit_code)


# status -w re-reads the admission/gang layers of not-Ready groups at most this often (seconds).
WATCH_LAYERS_MAX_AGE = 5.0


def layers_of(app: Any, max_age: float | None = None) -> Any:
    """The admission queues, gang schedulers, claims and gates of the groups not Ready, for the verdict
    (``reads.verdict(layers=...)``; kubectl_lws.layers reads them, one warning per layer it may not read).
    One reader per run: discovery once; ``max_age`` for the watch."""
    from kubectl_lws.layers import LayerReader
    from kubectl_lws.model.admission import claim_events

    reader = LayerReader(app.cluster, app.warn)
    return lambda health, raw: reader.causes(health, claim_events(raw or [], health.view), max_age=max_age)


def _selector(name: str) -> str:
    from kubectl_lws.model.keys import selector_for

    return selector_for(name)


def _placement(a: Any, nodes: list[dict] | dict | None, extra_keys: Sequence[str]) -> Any:
    """Where the groups landed (model/topology), from the verdict's groups and the nodes read."""
    from kubectl_lws.model.groups import group_pods
    from kubectl_lws.model.health import nodes_by_name
    from kubectl_lws.model.topology import placement

    view = a.view
    return placement(view, [g.group for g in a.groups if g.group is not None] or group_pods([], view.replicas),
                     nodes_by_name(nodes), extra_keys)


def _check_groups(a: Any, wanted: list[int] | None) -> list[int] | None:
    from kubectl_lws import errors

    if wanted is None:
        return None
    existing = [g.index for g in a.groups]
    bad = [i for i in wanted if i not in existing]
    if bad:
        if existing:
            have = f"groups 0-{a.desired - 1}" if a.desired else "no groups"
            surge = [i for i in existing if i >= a.desired]
            if surge:
                have += f" and surge {','.join(str(i) for i in surge)}"
        else:
            have = "no groups"
        raise errors.UsageError(f"group {', '.join(str(i) for i in bad)} does not exist: "
                                f"{a.view.name} has {have}")
    return wanted


def _code(a: Any, groups: list[int] | None, exit_code: bool) -> int:
    if not exit_code:
        return 0
    shown = [g for g in a.groups if groups is None or g.index in groups]
    return 3 if any(not g.healthy for g in shown) or (groups is None and a.state not in ("Healthy", "Canary")) else 0


def _print(app: Any, a: Any, place: Any, groups: list[int] | None, *, pods: bool, output: str) -> None:
    from kubectl_lws.render.output import emit
    from kubectl_lws.render.status import render_status, status_doc

    if emit(status_doc(a, place, groups=groups), output) if output in ("json", "yaml") else False:
        return
    app.out(render_status(a, place, groups=groups, pods=pods, wide=output == "wide", color=app.use_color()))


# ---- watch ------------------------------------------------------------------------------------------

def _watch(app: Any, name: str, groups: list[int] | None, *, pods: bool, extra_keys: Sequence[str],
           placement: bool, timeout: float | None, exit_code: bool, output: str, read_events: bool | None,
           stuck_after: float) -> int:
    """Redraw / print whenever the live view changes.

    The view is ``waiting.Informer``, the one that rollout status and the restart/scale waits use:
    list+watch streams on this LWS (field selector on its name), its pods, the namespace's
    non-routine events (only this LWS's are kept) and nodes, slim records in its stores, no polling;
    ``waiting.follow`` is the loop and ``terminal.LiveScreen`` the screen of every live view (metrics
    -w too). Each update is the verdict ``status`` gives (``reads.verdict``, the events under the
    same rule); this only decides what each update shows.
    """
    import contextlib

    from kubectl_lws import errors
    from kubectl_lws.model.events import noise_field_selector, raw_of_lws
    from kubectl_lws.model.keys import LWS_PLURAL, selector_for
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.reads import verdict
    from kubectl_lws.render.output import dump_json_line, dump_yaml
    from kubectl_lws.render.status import change_lines, render_screen, render_status, status_doc
    from kubectl_lws.terminal import LiveScreen, can_redraw
    from kubectl_lws.waiting import Informer, follow

    cluster = app.cluster
    obj = cluster.get_lws(name)  # fail fast (with close names) before opening streams
    ns = obj["metadata"]["namespace"]
    sources: list[tuple] = [(LWS_PLURAL, None, f"metadata.name={name}"), ("pods", selector_for(name))]
    if read_events is not False:
        sources.append(("events", None, noise_field_selector()))
    if placement:
        sources.append(("nodes", None))
    view = Informer(cluster, ns, sources, optional={"nodes", "events"}, name=name,
                    keep={"events": lambda e: bool(raw_of_lws([e], name))})

    def events() -> tuple[list[dict] | None, dict]:
        if "events" in view.forbidden:
            return None, {"error": "forbidden"}
        return view.items("events"), {"api": "v1", "truncated": False}

    layers = layers_of(app, WATCH_LAYERS_MAX_AGE)  # re-read on change, at most every 5 s
    tty = can_redraw(sys.stdout) and output in ("table", "wide")  # TERM=dumb: line mode
    color = app.use_color()
    screen = LiveScreen() if tty else None
    state: dict[str, Any] = {"prev": None, "last_a": None, "warned": set()}
    leaders: dict[int, str] = {}  # group -> last leader uid seen, to mark re-created groups

    def update(_changed: bool) -> float | None:
        for kind, text in (("nodes", NODES_FORBIDDEN), ("events", EVENTS_FORBIDDEN.format(why="forbidden"))):
            if kind in view.forbidden and kind not in state["warned"]:
                app.warn(text)
                state["warned"].add(kind)
        mine = [o for o in view.items(LWS_PLURAL) if (o.get("metadata") or {}).get("name") == name]
        if not mine:
            raise errors.LwsError(f'leaderworkerset "{name}" was deleted')
        nodes = None if (not placement or "nodes" in view.forbidden) else view.items("nodes")
        started = time.monotonic()
        a = verdict(mine[0], view.items("pods"), nodes, events=events, read_events=read_events,
                    stuck_after=stuck_after, layers=layers)
        place = _placement(a, nodes, extra_keys)
        build_cost = time.monotonic() - started
        if state["last_a"] is None:
            _check_groups(a, groups)
        state["last_a"] = a
        now = utc_now()
        prev = state["prev"]
        if output in ("json", "yaml"):
            doc = status_doc(a, place, groups=groups)
            if prev is None or _doc_key(doc) != _doc_key(prev):
                if output == "yaml":  # like kubectl get -w -o yaml: one document per change
                    sys.stdout.write("---\n")
                    dump_yaml(doc)
                else:
                    dump_json_line(doc)
                sys.stdout.flush()
            state["prev"] = doc
            return None
        if screen is not None:
            size = screen.size()
            screen.draw(render_screen(a, place, height=size.lines, width=size.columns, groups=groups, pods=pods,
                                      color=color, now=now))
            # ages tick on screen; on big LWS redraw less often than the rebuild costs
            return time.monotonic() + max(1.0, 5 * build_cost)
        if prev is None:
            app.out(render_status(a, place, groups=groups, pods=pods, wide=output == "wide", color=color))
            app.out()
        for line in change_lines(prev, a, now, leaders):
            app.out(line)
        sys.stdout.flush()
        state["prev"] = a
        return None

    try:
        with screen if screen is not None else contextlib.nullcontext():
            follow(view, update, timeout=timeout)
    finally:
        view.close()
    last_a = state["last_a"]
    return _code(last_a, groups, exit_code) if last_a is not None else 0


def _doc_key(doc: dict) -> str:
    """A JSON doc without ages: a new line only when something other than time changed."""
    import json
    import re

    slim = {k: v for k, v in doc.items()}
    slim["groups"] = [{k: v for k, v in g.items() if k not in ("age", "pods")} |
                      {"pods": [{k: v for k, v in p.items() if k != "age"} for p in g.get("pods", [])]}
                      for g in doc.get("groups", [])]
    text = json.dumps(slim, sort_keys=True)
    return re.sub(r"\b\d+(?:[smhd]\d*)+[smhd]? (ago|old)\b", "", text)
