"""``kubectl lws list``: every LWS with its group health, from two requests (three when a re-creation loop is possible).

Why two requests: one LIST of LWS and one LIST of all LWS pods (selector on the name label),
split per LWS in memory — never a request per LWS, so ``list -A`` stays fast on big clusters.
A third, a LIST of ``RecreateGroup`` events only, is made when some group is not Ready or has a
leader younger than 10 minutes: only then can a group be in a re-creation loop (issue 12).
"""

from __future__ import annotations

import click

from kubectl_lws.options import SelectorType, app_context, no_headers_option, output_option

# Above this many LWS names the pod selector is "name exists" instead of "name in (...)".
MAX_NAMES_IN_SELECTOR = 50


@click.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="List LWS in every namespace.")
@click.option("-l", "--selector", type=SelectorType(), default=None, metavar="SELECTOR",
              help="Label selector on the LeaderWorkerSets (e.g. team=ml-infra).")
@output_option(("table", "wide", "json", "yaml", "name"), default="table")
@no_headers_option()
def list_cmd(all_namespaces: bool, selector: str | None, output: str, no_headers: bool) -> None:
    """List LeaderWorkerSets with group health computed from their pods.

    \b
    GROUPS is ready/desired groups (a group is ready when its leader and every worker are
    Running and Ready, which is stricter than LWS status before v0.9); +N shows surge groups.
    STATE is one of Healthy, Degraded, Progressing, Canary, Paused, Unavailable, Scaling.

    \b
    Examples:
      kubectl lws list
      kubectl lws list -A -o wide
      kubectl lws list -l team=ml-infra -o json
    """
    from kubectl_lws.model import keys
    from kubectl_lws.model.groups import lws_view, pods_by_lws
    from kubectl_lws.model.health import assess
    from kubectl_lws.model.slim import building_records
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.render.output import emit
    from kubectl_lws.render.status import list_item, list_table, owner_json

    app = app_context()
    cluster = app.cluster
    ns = None if all_namespaces else cluster.namespace
    objs = cluster.list_lws(ns, label_selector=selector, all_namespaces=all_namespaces)
    objs.sort(key=lambda o: ((o.get("metadata") or {}).get("namespace", ""), (o.get("metadata") or {}).get("name", "")))
    if not objs:
        if output in ("json", "yaml"):
            emit({"apiVersion": "v1", "kind": "List", "items": []}, output)
            return
        where = "" if all_namespaces else f" in {ns} namespace"
        app.info(f"No resources found{where}.")
        return
    names = sorted({o["metadata"]["name"] for o in objs})
    if selector and len(names) <= MAX_NAMES_IN_SELECTOR:
        pod_selector = f"{keys.NAME_LABEL} in ({','.join(names)})"
    else:
        pod_selector = keys.NAME_LABEL
    pods = cluster.list_pods(ns, label_selector=pod_selector, all_namespaces=all_namespaces, slim=True)
    now = utc_now()
    assessed = []
    with building_records():
        by_lws = pods_by_lws(pods)
        for obj in objs:
            view = lws_view(obj)
            assessed.append(assess(view, by_lws.get((view.namespace, view.name), []), now=now))
    loops = _recreation_loops(app, assessed, ns, all_namespaces, now)
    results = []
    for a in assessed:
        item = list_item(a, now)
        item["recreationLoops"] = loops.get((a.view.namespace, a.view.name)) if loops is not None else None
        item["owner"] = owner_json(a.view.raw)
        results.append((a, item))
    sets = _disaggregated_sets(app, objs, assessed, ns, all_namespaces, now)
    if output == "name":
        for a, _ in results:
            click.echo(f"{keys.LWS_PLURAL[:-1]}.{keys.LWS_GROUP}/{a.view.name}")
        for _, item in sets:
            click.echo(f"{keys.DS_PLURAL[:-1]}.{keys.DS_GROUP}/{item['name']}")
        return
    if emit({"apiVersion": "v1", "kind": "List", "items": [item for _, item in results] +
             [item for _, item in sets]}, output):
        return
    color = app.use_color()
    text = list_table(results, all_namespaces=all_namespaces, wide=output == "wide", color=color,
                      no_headers=no_headers)
    if text:
        # color= explicitly: click.echo strips ANSI off a TTY, which would defeat --color always
        click.echo(text, color=color)
    if sets:
        from kubectl_lws.render import ds as render_ds

        click.echo("")
        click.echo(render_ds.list_table(sets, all_namespaces=all_namespaces, wide=output == "wide", color=color,
                                        no_headers=no_headers), color=color)


def _disaggregated_sets(app, objs: list[dict], assessed: list, ns: str | None, all_namespaces: bool,
                        now) -> list[tuple]:
    """DisaggregatedSets beside the LWS, assessed from the LWS and pods already read. Read (one LIST, plus
    the role scalers when a role is External) only when some listed LWS is a DS's child, so a cluster
    without DisaggregatedSets keeps its requests; with -l, a set shows when its child LWS match."""
    from kubectl_lws import errors
    from kubectl_lws.model import ds as D
    from kubectl_lws.render.ds import list_item as ds_item
    from kubectl_lws.targets import has_external_roles

    owners = {(o["metadata"].get("namespace", ""), ref.ds) for o in objs if (ref := D.child_ref(o)) is not None}
    if not owners:
        return []
    try:
        items = app.cluster.list_ds(ns, all_namespaces=all_namespaces)
    except (errors.Forbidden, errors.NotFound, errors.DsApiMissing) as exc:
        app.warn(f"cannot list DisaggregatedSets ({exc.message}): their child LWS are listed alone")
        return []
    items = [d for d in items if (d["metadata"].get("namespace", ""), d["metadata"]["name"]) in owners]
    scalers: list[dict] | None = None
    if any(has_external_roles(d) for d in items):
        try:
            scalers = app.cluster.list("disaggregatedsetrolescalers", ns, all_namespaces=all_namespaces)[0]
        except errors.LwsError:
            scalers = []
    done = {(a.view.namespace, a.view.name): a for a in assessed}
    out = []
    for d in sorted(items, key=lambda x: (x["metadata"].get("namespace", ""), x["metadata"]["name"])):
        view = D.ds_view(d)
        mine = [o for o in objs if o["metadata"].get("namespace") == view.namespace]
        sc = None if scalers is None else [s for s in scalers if (s.get("metadata") or {}).get("namespace")
                                           == view.namespace]
        da = D.assess_ds(view, mine, [], scalers=sc, now=now, assessed=done)
        out.append((da, ds_item(da, now)))
    return out


def _recreation_loops(app, assessed: list, ns: str | None, all_namespaces: bool, now) -> dict | None:
    """Re-creation loops (3+ in 10m) from one LIST of ``RecreateGroup`` events, read only when a loop is
    possible (a group not Ready or a leader younger than 10m): a settled fleet keeps two requests.
    None when not read; an LWS with a looping group becomes Degraded."""
    from kubectl_lws import errors
    from kubectl_lws.model import events as E

    if not any(E.recreation_possible(a, now) for a in assessed):
        return None
    try:
        items, _ = app.cluster.list_events(ns, field_selector="reason=RecreateGroup",
                                           all_namespaces=all_namespaces)
    except (errors.Forbidden, errors.NotFound):
        app.warn("cannot list events: re-creation loops are not detected")
        return None
    evs = E.normalize_all(items)
    by_ns: dict[str, list] = {}
    for ev in evs:
        by_ns.setdefault(ev.namespace, []).append(ev)
    names: dict[str, list[str]] = {}
    for a in assessed:
        names.setdefault(a.view.namespace, []).append(a.view.name)
    out = {}
    for a in assessed:
        v = a.view
        out[(v.namespace, v.name)] = E.mark_loops(a, by_ns.get(v.namespace, []), now=now,
                                                  others=names.get(v.namespace, ()))
    return out
