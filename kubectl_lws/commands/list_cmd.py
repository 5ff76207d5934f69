"""``kubectl lws list``: every LWS with the verdict ``status`` gives it, reading as little as it can.

One LIST of LWS; an LWS whose status already says it is settled (``model/verdict.settled_by_status``)
costs nothing more. For the others: their pods (``name in (...)`` LISTs, or one LIST of every LWS pod
when all need it), the nodes those pods run on, and the events of the namespaces where the verdict's
rule asks for them (``events_needed``); for an LWS with a group not Ready, the admission/gang layers it
goes through (``layers.LayerReader``: one LIST per layer and namespace, discovery once). Never a
request per LWS, so ``list -A`` holds on a fleet.
The reading is ``reads.verdicts``; the verdict is ``model/verdict.judge``, the same as ``status``.
"""

from __future__ import annotations

import click

from kubectl_lws.options import SelectorType, app_context, no_headers_option, output_option


@click.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="List LWS in every namespace.")
@click.option("-l", "--selector", type=SelectorType(), default=None, metavar="SELECTOR",
              help="Label selector on the LeaderWorkerSets (e.g. team=ml-infra).")
@output_option(("table", "wide", "json", "yaml", "name"), default="table")
@no_headers_option()
def list_cmd(all_namespaces: bool, selector: str | None, output: str, no_headers: bool) -> None:
    """List LeaderWorkerSets with the state `status` gives each of them.

    \b
    GROUPS is ready/desired groups (a group is ready when its leader and every worker are
    Running and Ready, which is stricter than LWS status before v0.9); +N shows surge groups.
    STATE is one of Healthy, Degraded, Progressing, Canary, Paused, Unavailable, Scaling.
    An LWS whose status says it has been settled for 10 minutes is not read further
    (-o json: "source": "lws-status"); every other one is judged from its pods.

    \b
    Examples:
      kubectl lws list
      kubectl lws list -A -o wide
      kubectl lws list -l team=ml-infra -o json
    """
    from kubectl_lws.model import keys
    from kubectl_lws.model.timeutil import utc_now
    from kubectl_lws.reads import verdicts
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
    if output == "name":  # names only: no verdict to read for
        for o in objs:
            app.out(f"{keys.LWS_PLURAL[:-1]}.{keys.LWS_GROUP}/{o['metadata']['name']}")
        for name in _set_names(app, objs, ns, all_namespaces):
            app.out(f"{keys.DS_PLURAL[:-1]}.{keys.DS_GROUP}/{name}")
        return
    from kubectl_lws.layers import LayerReader

    # the admission/gang/storage causes of LWS with a group not Ready: reads merged per namespace
    assessed = verdicts(app, objs, namespace=ns, all_namespaces=all_namespaces, selected=bool(selector),
                        layers=LayerReader(app.cluster, app.warn).causes_all)
    now = utc_now()
    results = [(a, {**list_item(a, now), "owner": owner_json(a.view.raw)}) for a in assessed]
    sets = _disaggregated_sets(app, objs, assessed, ns, all_namespaces, now)
    if emit({"apiVersion": "v1", "kind": "List", "items": [item for _, item in results] +
             [item for _, item in sets]}, output):
        return
    color = app.use_color()
    text = list_table(results, all_namespaces=all_namespaces, wide=output == "wide", color=color,
                      no_headers=no_headers)
    if text:
        app.out(text)
    if sets:
        from kubectl_lws.render import ds as render_ds

        app.out()
        app.out(render_ds.list_table(sets, all_namespaces=all_namespaces, wide=output == "wide", color=color,
                                     no_headers=no_headers))


def _owning_sets(objs: list[dict]) -> set[tuple[str, str]]:
    """(namespace, name) of the DisaggregatedSets some listed LWS belongs to."""
    from kubectl_lws.model.ds import child_ref

    return {(o["metadata"].get("namespace", ""), ref.ds) for o in objs if (ref := child_ref(o)) is not None}


def _read_sets(app, objs: list[dict], ns: str | None, all_namespaces: bool) -> list[dict]:
    """The DisaggregatedSets of the listed child LWS: one LIST, made only when some listed LWS is a set's
    child (a cluster without sets keeps its requests); with -l, a set shows when its child LWS match."""
    from kubectl_lws import errors

    owners = _owning_sets(objs)
    if not owners:
        return []
    try:
        items = app.cluster.list_ds(ns, all_namespaces=all_namespaces)
    except (errors.Forbidden, errors.NotFound, errors.DsApiMissing) as exc:
        app.warn(f"cannot list DisaggregatedSets ({exc.message}): their child LWS are listed alone")
        return []
    return sorted((d for d in items if (d["metadata"].get("namespace", ""), d["metadata"]["name"]) in owners),
                  key=lambda d: (d["metadata"].get("namespace", ""), d["metadata"]["name"]))


def _set_names(app, objs: list[dict], ns: str | None, all_namespaces: bool) -> list[str]:
    return [d["metadata"]["name"] for d in _read_sets(app, objs, ns, all_namespaces)]


def _disaggregated_sets(app, objs: list[dict], assessed: list, ns: str | None, all_namespaces: bool,
                        now) -> list[tuple]:
    """DisaggregatedSets beside the LWS, judged from the verdicts of their child LWS already made (plus the
    role scalers' LIST when a role is External)."""
    from kubectl_lws import errors
    from kubectl_lws.model import ds as D
    from kubectl_lws.render.ds import list_item as ds_item
    from kubectl_lws.targets import has_external_roles

    items = _read_sets(app, objs, ns, all_namespaces)
    scalers: list[dict] | None = None
    if any(has_external_roles(d) for d in items):
        try:
            scalers = app.cluster.list("disaggregatedsetrolescalers", ns, all_namespaces=all_namespaces)[0]
        except errors.LwsError:
            scalers = []
    done = {(a.view.namespace, a.view.name): a for a in assessed}
    out = []
    for d in items:
        view = D.ds_view(d)
        mine = [o for o in objs if o["metadata"].get("namespace") == view.namespace]
        sc = None if scalers is None else [s for s in scalers if (s.get("metadata") or {}).get("namespace")
                                           == view.namespace]
        da = D.assess_ds(view, mine, [], scalers=sc, now=now, assessed=done)
        out.append((da, ds_item(da, now)))
    return out
