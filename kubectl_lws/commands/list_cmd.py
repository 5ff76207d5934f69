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
    from kubectl_lws.render.status import list_item, list_table

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
        return
    from kubectl_lws.layers import LayerReader

    # the admission/gang/storage causes of LWS with a group not Ready: reads merged per namespace
    assessed = verdicts(app, objs, namespace=ns, all_namespaces=all_namespaces, selected=bool(selector),
                        layers=LayerReader(app.cluster, app.warn).causes_all)
    now = utc_now()
    results = [(a, list_item(a, now)) for a in assessed]
    if emit({"apiVersion": "v1", "kind": "List", "items": [item for _, item in results]}, output):
        return
    color = app.use_color()
    text = list_table(results, all_namespaces=all_namespaces, wide=output == "wide", color=color,
                      no_headers=no_headers)
    if text:
        app.out(text)
