"""``kubectl lws list``: every LWS with its group health, from exactly two requests.

Why two requests: one LIST of LWS and one LIST of all LWS pods (selector on the name label),
split per LWS in memory — never a request per LWS, so ``list -A`` stays fast on big clusters.
"""

from __future__ import annotations

import click

from kubectl_lws.options import app_context, no_headers_option, output_option

# Above this many LWS names the pod selector is "name exists" instead of "name in (...)".
MAX_NAMES_IN_SELECTOR = 50


@click.command("list")
@click.option("-A", "--all-namespaces", is_flag=True, help="List LWS in every namespace.")
@click.option("-l", "--selector", default=None, metavar="SELECTOR",
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
    from kubectl_lws.model.timeutil import utc_now
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
    names = sorted({o["metadata"]["name"] for o in objs})
    if selector and len(names) <= MAX_NAMES_IN_SELECTOR:
        pod_selector = f"{keys.NAME_LABEL} in ({','.join(names)})"
    else:
        pod_selector = keys.NAME_LABEL
    pods = cluster.list_pods(ns, label_selector=pod_selector, all_namespaces=all_namespaces, slim=True)
    by_lws = pods_by_lws(pods)
    now = utc_now()
    results = []
    for obj in objs:
        view = lws_view(obj)
        a = assess(view, by_lws.get((view.namespace, view.name), []), now=now)
        results.append((a, list_item(a, now)))
    if output == "name":
        for a, _ in results:
            click.echo(f"{keys.LWS_PLURAL[:-1]}.{keys.LWS_GROUP}/{a.view.name}")
        return
    if emit({"apiVersion": "v1", "kind": "List", "items": [item for _, item in results]}, output):
        return
    color = app.use_color()
    text = list_table(results, all_namespaces=all_namespaces, wide=output == "wide", color=color,
                      no_headers=no_headers)
    if text:
        # color= explicitly: click.echo strips ANSI off a TTY, which would defeat --color always
        click.echo(text, color=color)
