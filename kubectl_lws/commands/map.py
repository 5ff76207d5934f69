"""``kubectl lws map [NAME | ds/NAME | -A]``: where the groups landed, drawn as the cluster's topology.

Thin: the reads are ``maps.read_map`` (a constant number of requests), the facts ``model/placemap``,
the drawing ``render/map`` (rich, text), ``render/svg`` and ``render/html`` (exports).
"""

from __future__ import annotations

from typing import Any

import click

from kubectl_lws.options import TARGET, app_context

OUTPUTS = ("table", "json", "yaml", "svg", "html")


@click.command("map")
@click.argument("name", required=False, type=TARGET, metavar="[NAME | ds/NAME]")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every LWS of every namespace.")
@click.option("--topology-key", "topology_keys", multiple=True, metavar="KEY",
              help="A level of the map, outermost first (repeatable); default: a Kueue Topology's levels, "
                   "else well-known node labels (zone, node pool, block, sub-block, rack...).")
@click.option("--resource", metavar="NAME", default=None,
              help="The accelerator to count per node (default: the first of nvidia.com/gpu, amd.com/gpu, "
                   "google.com/tpu, ... that the nodes offer).")
@click.option("--all-nodes", is_flag=True, help="Draw idle nodes too (by default 3 or more in a box are one line).")
@click.option("-o", "--output", type=click.Choice(list(OUTPUTS)), default="table", show_default=True,
              help="table: the text map; json/yaml: the same data; svg/html: a self-contained picture/page.")
def map_cmd(name: Any, all_namespaces: bool, topology_keys: tuple[str, ...], resource: str | None,
            all_nodes: bool, output: str) -> int:
    """Draw where the groups run: topology domains, nodes, accelerators per group.

    \b
    Each node line: a mark, its name, one slot per accelerator (the letter of the group that
    requested it, # another pod, . free) and +LETTERS for groups there without accelerators.
    Marks: ! NotReady, ~ cordoned, * placement violation, ^ tainted.
    Groups that cannot be placed are listed under the map with their cause.
    ds/NAME: the child LWS of a DisaggregatedSet (every role, slice and revision).

    \b
    Examples:
      kubectl lws map vllm
      kubectl lws map -A
      kubectl lws map -A --topology-key topology.kubernetes.io/zone --topology-key example.com/rack
      kubectl lws map ds/pd -n inference
      kubectl lws map vllm -o html > vllm-map.html
    """
    from kubectl_lws import errors
    from kubectl_lws.maps import MapScope, read_map
    from kubectl_lws.names import check_label_key

    if name and all_namespaces:
        raise errors.UsageError("NAME and -A cannot be combined", hint="kubectl lws map NAME, or kubectl lws map -A")
    target = name
    keys = [check_label_key(k, "--topology-key") for k in topology_keys]
    if resource is not None:
        resource = check_label_key(resource, "--resource")
    app = app_context()
    cluster = app.cluster
    scope = MapScope(None if all_namespaces else cluster.namespace, target.name if target else None, all_namespaces,
                     ds=bool(target and target.is_ds))
    if output == "table":
        _import_in_background("kubectl_lws.render.map")
    m = read_map(app, scope, topology_keys=keys, resource=resource)
    if not m.groups and target and target.is_ds:
        app.info(f"ds/{target.name} has no child LeaderWorkerSets yet: the map shows the nodes only.")
    elif not m.groups and not target:
        where = "" if all_namespaces else f" in {cluster.namespace} namespace"
        app.info(f"No LeaderWorkerSets found{where}: the map shows the nodes only.")
    emit_map(app, m, output, all_nodes=all_nodes, title=_title(scope))
    return 0


def _import_in_background(module: str) -> None:
    """Import the renderer (rich, ~30 ms) on a thread while the LISTs wait on the API server; the
    main thread's own import then finds it done (or waits on the import lock for the rest)."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), daemon=True,
                     name="import-renderer").start()


def _title(scope) -> str:  # noqa: ANN001 — a maps.MapScope
    if scope.name:
        return f"{scope.namespace}/{'ds/' if scope.ds else ''}{scope.name}"
    return "all namespaces" if scope.all_namespaces else f"namespace {scope.namespace}"


def emit_map(app, m, output: str, *, all_nodes: bool = False, title: str = "") -> None:  # noqa: ANN001
    """Print the map in one of OUTPUTS (data on stdout)."""
    import shutil
    import sys

    from kubectl_lws.render.output import emit

    if emit(m.to_json(), output) if output in ("json", "yaml") else False:
        return
    if output == "svg":
        from kubectl_lws.render.svg import map_svg

        sys.stdout.write(map_svg(m, title=title))
        return
    if output == "html":
        from kubectl_lws.render.html import map_page

        sys.stdout.write(map_page(m, title=title))
        return
    from kubectl_lws.render.map import render_map
    from kubectl_lws.render.output import echo
    from kubectl_lws.render.safe import Styled
    from kubectl_lws.terminal import boxes_drawable

    color = app.use_color()
    width = shutil.get_terminal_size((80, 24)).columns
    text = render_map(m, width=width, color=color, ascii_only=not boxes_drawable(sys.stdout), all_nodes=all_nodes)
    echo(Styled(text))  # every cluster string in it went through render.safe; the colours are ours
