"""``kubectl lws version``: offline by default; ``--server`` adds what the cluster runs."""

from __future__ import annotations

import platform

import click

from kubectl_lws import __version__, errors
from kubectl_lws.model.keys import LWS_GROUP
from kubectl_lws.options import app_context, output_option
from kubectl_lws.render.output import emit


def _served_versions(cluster) -> list[str] | None:  # noqa: ANN001
    """The LWS API versions the cluster serves, from discovery (readable by any user, unlike the CRD)."""
    try:
        group = cluster.request("GET", f"/apis/{LWS_GROUP}")
    except errors.NotFound:
        raise errors.LwsApiMissing() from None
    except errors.Forbidden:
        return None
    if not isinstance(group, dict):
        raise errors.LwsApiMissing()
    return [v.get("version", "") for v in group.get("versions") or []]


def _controller_image(cluster) -> str | None:  # noqa: ANN001 — Cluster, imported lazily
    """Tag of the LWS controller image, when the deployment is readable (best effort)."""
    from kubectl_lws.model.doctor import CONTROLLER, CONTROLLER_NAMESPACE, controller_image

    try:
        deploy = cluster.get("deployments", CONTROLLER, CONTROLLER_NAMESPACE)
    except errors.LwsError:
        return None
    return controller_image(deploy) or None  # the same answer doctor gives


@click.command("version")
@click.option("-s", "--server", "server", is_flag=False, flag_value="", default=None, metavar="[URL]",
              help="Also ask the cluster: Kubernetes version, LWS API versions, controller image. "
                   "A URL, if given, is the API server address as for every command.")
@output_option(("text", "json", "yaml"), default="text")
def version(server: str | None, output: str) -> None:
    """Print the plugin and Python versions (offline), and with --server the cluster's."""
    info: dict = {"kubectlLws": __version__, "python": platform.python_version()}
    show_server = server is not None
    app = app_context()
    if show_server:
        if server:
            app.settings.server = server
        cluster = app.cluster
        server = cluster.server_version()
        info["server"] = {"gitVersion": server.get("gitVersion"), "platform": server.get("platform")}
        info["lws"] = {"servedVersions": _served_versions(cluster)}
        info["lws"]["controllerImage"] = _controller_image(cluster)
    if emit(info, output):
        return
    app.out(f"kubectl-lws: {info['kubectlLws']}")
    app.out(f"python: {info['python']}")
    if show_server:
        app.out(f"server: {info['server']['gitVersion']}")
        served = info["lws"]["servedVersions"]
        app.out(f"lws api: {', '.join(served) if served else 'unknown (cannot read the CRD)'}")
        app.out(f"lws controller: {info['lws']['controllerImage'] or 'unknown (not readable)'}")
