"""``kubectl lws dashboard``: the LWS of a namespace (or all), live, in a local browser, read-only.

Thin: flags, checks, the printed URL; the server is ``kubectl_lws.dashboard`` (aiohttp, the
``dashboard`` extra), fed by the shared live view (``waiting.Informer``).
"""

from __future__ import annotations

from typing import Any

import click

from kubectl_lws.options import TARGET, app_context

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _address(value: str) -> str:
    import ipaddress

    from kubectl_lws import errors

    if value == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise errors.UsageError(f'invalid --address "{value[:80]}": an IP address such as 127.0.0.1 or ::1') from None


@click.command("dashboard")
@click.argument("name", required=False, type=TARGET, metavar="[NAME | ds/NAME]")
@click.option("-A", "--all-namespaces", is_flag=True, help="LeaderWorkerSets of every namespace.")
@click.option("--address", default="127.0.0.1", show_default=True, metavar="IP",
              help="Address to listen on (anything but loopback is warned about: the URL is the only key).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="0, a free port",
              help="Port to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the URL in the default browser.")
@click.option("--topology-key", "topology_keys", multiple=True, metavar="KEY",
              help="A level of the placement map, outermost first (repeatable), as for `map`.")
def dashboard(name: Any, all_namespaces: bool, address: str, port: int, open_browser: bool,
              topology_keys: tuple[str, ...]) -> int:
    """Serve a live, read-only view of LeaderWorkerSets in a local browser.

    \b
    Pages: the LWS and DisaggregatedSets of the namespace (or all of them with -A), one LWS
    (groups, causes, events timeline, placement map), one DisaggregatedSet (roles, child LWS,
    events, map) and the placement map; each updates within about a
    second of a change (Server-Sent Events on the shared list+watch). GET only; every request
    must carry the token of the printed URL. Ctrl-C stops it (exit code 130).

    \b
    Examples:
      kubectl lws dashboard --open
      kubectl lws dashboard vllm -n inference
      kubectl lws dashboard ds/pd -n inference
      kubectl lws dashboard -A --port 8080
    """
    from kubectl_lws import errors
    from kubectl_lws.names import check_label_key

    host = _address(address)
    keys = [check_label_key(k, "--topology-key") for k in topology_keys]
    if name and all_namespaces:
        raise errors.UsageError("NAME and -A cannot be combined",
                                hint="kubectl lws dashboard NAME, or kubectl lws dashboard -A")
    try:
        from kubectl_lws import dashboard as server
    except ImportError as exc:
        raise errors.LwsError(f"the dashboard needs aiohttp ({exc.name or exc} is missing)",
                              hint="pip install 'kubectl-lws[dashboard]'") from None
    app = app_context()
    cluster = app.cluster
    ns = cluster.namespace
    start = "/"
    if name and name.is_ds:
        cluster.get_ds(name.name, ns)  # a typo fails now, with close names, not in the browser
        start = f"/ds/{ns}/{name.name}"
    elif name:
        cluster.get_lws(name.name, ns)
        start = f"/lws/{ns}/{name.name}"
    if host not in ("127.0.0.1", "::1"):
        app.warn(f"listening on {host}, not only on this machine: anyone who can reach it and has the URL reads "
                 "what your kubeconfig can read (read-only); prefer the default 127.0.0.1")
    settings = server.Settings(namespace=None if all_namespaces else ns, all_namespaces=all_namespaces,
                               topology_keys=keys)
    scope = "every namespace" if all_namespaces else f"namespace {ns}"

    def ready(url: str) -> None:
        app.out(url)
        app.info(f"dashboard of {scope} (read-only); Ctrl-C to stop")

    try:
        server.serve(app, settings, host=host, port=port, open_browser=open_browser, start_view=start,
                     on_ready=ready)
    except KeyboardInterrupt:
        app.info("dashboard stopped")
        raise
    return 0
