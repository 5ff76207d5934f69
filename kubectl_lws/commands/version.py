"""``kubectl lws version``: offline by default; ``--server`` adds what the cluster runs."""

from __future__ import annotations

import platform

import click

from kubectl_lws import __version__, errors
from kubectl_lws.model.keys import LWS_CRD_NAME
from kubectl_lws.options import app_context, output_option
from kubectl_lws.render.output import emit


def _controller_image(cluster) -> str | None:  # noqa: ANN001 — Cluster, imported lazily
    """Tag of the LWS controller image, when the deployment is readable (best effort)."""
    try:
        deploy = cluster.get("deployments", "lws-controller-manager", "lws-system")
    except errors.LwsError:
        return None
    for container in deploy.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        image = container.get("image", "")
        if "lws" in image or container.get("name") == "manager":
            return image
    return None


@click.command("version")
@click.option("-s", "--server", "server", is_flag=False, flag_value="", default=None, metavar="[URL]",
              help="Also ask the cluster: Kubernetes version, LWS API versions, controller image. "
                   "A URL, if given, is the API server address as for every command.")
@output_option(("text", "json", "yaml"), default="text")
def version(server: str | None, output: str) -> None:
    """Print the plugin and Python versions (offline), and with --server the cluster's."""
    info: dict = {"kubectlLws": __version__, "python": platform.python_version()}
    show_server = server is not None
    if show_server:
        app = app_context()
        if server:
            app.settings.server = server
        cluster = app.cluster
        server = cluster.server_version()
        info["server"] = {"gitVersion": server.get("gitVersion"), "platform": server.get("platform")}
        try:
            crd = cluster.get("customresourcedefinitions", LWS_CRD_NAME)
            info["lws"] = {"servedVersions": [v["name"] for v in crd.get("spec", {}).get("versions", [])
                                              if v.get("served")]}
        except errors.NotFound:
            raise errors.LwsApiMissing() from None
        except errors.Forbidden:
            info["lws"] = {"servedVersions": None}
        info["lws"]["controllerImage"] = _controller_image(cluster)
    if emit(info, output):
        return
    click.echo(f"kubectl-lws: {info['kubectlLws']}")
    click.echo(f"python: {info['python']}")
    if show_server:
        click.echo(f"server: {info['server']['gitVersion']}")
        served = info["lws"]["servedVersions"]
        click.echo(f"lws api: {', '.join(served) if served else 'unknown (cannot read the CRD)'}")
        click.echo(f"lws controller: {info['lws']['controllerImage'] or 'unknown (not readable)'}")
