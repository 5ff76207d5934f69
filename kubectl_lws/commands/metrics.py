"""``kubectl lws metrics NAME``: is it serving? Inference metrics of every group, read through the pod proxy.

Each group's serving endpoint (what ``verify runtime`` identifies: the leader's serving port, or every pod of a
data-parallel layout where each runs its own API server) is scraped through the API server's pod proxy
(``GET .../pods/NAME:PORT/proxy/metrics``: no port-forward, no route to pod IPs), at most ``--concurrency``
at a time, each within ``--scrape-timeout`` and 10 MB. Two rounds ``--interval`` apart give rates and windowed
quantiles. Requests: one GET of the LWS, one LIST of its pods, two scrapes per endpoint (``-w``: list+watch
streams on the LWS and its pods, one scrape per endpoint and interval).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import click

from kubectl_lws.options import LWS_NAME, DurationType, app_context, output_option

MAX_BODY = 10 * 2 ** 20
KIND = "LeaderWorkerSet"
DOC_KIND = "LeaderWorkerSetMetrics"


@click.command("metrics")
@click.argument("name", required=False, type=LWS_NAME, metavar="NAME")
@click.option("-g", "--group", "group_filter", type=int, multiple=True, metavar="N",
              help="Only group N (repeatable).")
@click.option("--role", "roles", multiple=True, metavar="ROLE",
              help="Only this role of a DisaggregatedSet (repeatable).")
@click.option("--all-pods", is_flag=True, help="Scrape every pod of each group, not only the ones that serve.")
@click.option("-w", "--watch", is_flag=True, help="Keep scraping every interval: a live table on a colour "
              "terminal, plain snapshots otherwise.")
@click.option("--interval", type=DurationType(), default=2.0, show_default="2s", metavar="DURATION",
              help="Time between the two scrapes (and between refreshes with -w).")
@click.option("--scrape-timeout", type=DurationType(), default=5.0, show_default="5s", metavar="DURATION",
              help="Per-scrape timeout (a group that does not answer in time says so).")
@click.option("--timeout", type=DurationType(), default=None, metavar="DURATION",
              help="With -w: stop after this long.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Serving port to scrape (default: the leader's --port, else the server's default).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Scrapes at the same time.")
@click.option("--exit-code", is_flag=True, help="Exit 3 when a group is an outlier or does not answer.")
@output_option(("table", "wide", "json", "yaml"), default="table")
def metrics(name: str | None, group_filter: Sequence[int], roles: Sequence[str], all_pods: bool, watch: bool,
            interval: float, scrape_timeout: float, timeout: float | None, port: int | None, concurrency: int,
            exit_code: bool, output: str) -> int:
    """Show what each group is serving: requests, KV cache, tokens/s, TTFT and inter-token latency.

    \b
    Read from each group's vLLM or SGLang /metrics through the API server's pod proxy (needs
    `get pods/proxy`), twice --interval apart: rates and p50/p95/p99 are over that window.
    Outliers: a group that does not answer, whose generation rate is under half its role's
    median, or whose KV cache is over 95% while its waiting requests grow.

    \b
    Examples:
      kubectl lws metrics vllm
      kubectl lws metrics vllm -w
      kubectl lws metrics vllm -g 0 -g 3 -o json
      kubectl lws metrics vllm --all-pods --port 8080 -o wide
    """
    from kubectl_lws import errors

    if not name:
        raise errors.UsageError("NAME is required: kubectl lws metrics NAME", hint="list them with: kubectl lws list")
    if interval < 0.1:
        raise errors.UsageError("--interval must be at least 100ms")
    if scrape_timeout <= 0:
        raise errors.UsageError("--scrape-timeout must be more than 0")
    if timeout is not None and not watch:
        raise errors.UsageError("--timeout only applies with -w",
                                hint=f"kubectl lws metrics {name} -w --timeout DURATION")
    if roles:
        raise errors.UsageError("--role applies to a DisaggregatedSet's roles; LeaderWorkerSet "
                                f"{name} has none", hint="kubectl lws metrics ds/NAME --role decode")
    app = app_context()
    cluster = app.cluster
    cluster.max_connections = max(cluster.max_connections, concurrency)
    wanted = list(group_filter) or None
    scraper = Scraper(cluster, scrape_timeout)
    if watch:
        return _watch(app, name, wanted, scraper, all_pods=all_pods, port=port, interval=interval,
                      concurrency=concurrency, timeout=timeout, exit_code=exit_code, output=output)
    from kubectl_lws.model.keys import selector_for

    obj = cluster.get_lws(name)
    ns = obj["metadata"]["namespace"]
    pods = cluster.list_pods(ns, label_selector=selector_for(name), slim=True)
    scraper.namespace = ns
    plan, groups = _plan(obj, pods, wanted, all_pods=all_pods, port=port)
    first = scraper.round(_targets(groups), concurrency)
    time.sleep(max(0.0, interval - (time.monotonic() - first.started)))
    second = scraper.round(_targets(groups), concurrency)
    rows = _rows(obj, groups, first, second)
    _print(app, obj, rows, second.started - first.started, output)
    return _code(rows, exit_code)


# ---- scraping ---------------------------------------------------------------------------------------

class Round:
    """One scrape of every endpoint: (pod, port) -> Snapshot or the reason there is none."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.results: dict[tuple[str, int | None], Any] = {}


class Scraper:
    """Scrapes through the pod proxy, a bounded number at a time; turns every failure into a sentence."""

    def __init__(self, cluster: Any, timeout: float) -> None:
        self.cluster = cluster
        self.timeout = timeout
        self.namespace = ""
        self.checked = False  # the first scrape runs alone: a 403 ends the command before any other

    def round(self, targets: list, concurrency: int) -> Round:
        r = Round()
        todo = [(t.pod, t.port) for t in targets if not t.skip]
        if todo and not self.checked:
            r.results[todo[0]] = self.scrape(*todo[0])
            self.checked = True
            todo = todo[1:]
        if todo:
            pool = ThreadPoolExecutor(max_workers=min(concurrency, len(todo)), thread_name_prefix="scrape")
            try:
                for key, result in zip(todo, pool.map(lambda k: self.scrape(*k), todo)):
                    r.results[key] = result
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        for t in targets:
            if t.skip:
                r.results[(t.pod, t.port)] = t.skip
        return r

    def scrape(self, pod: str, port: int | None) -> Any:
        """A Snapshot of ``pod:port``'s page, or why there is none. pods/proxy forbidden is one line and
        exit 1 (the first scrape runs alone, so nothing else is tried)."""
        from kubectl_lws import errors
        from kubectl_lws.model.metrics import PageError, read_page

        try:
            resp = self.cluster.proxy_get(pod, int(port or 0), "/metrics", namespace=self.namespace,
                                          timeout=self.timeout, limit=MAX_BODY)
        except errors.RequestTimeout:
            return f"no answer in {self.timeout:g}s (timeout)"
        except errors.LwsError as exc:
            return f"the API server did not proxy it: {exc.message}"
        t = time.monotonic()
        status = _api_status(resp)
        if resp.status == 403 and status is not None:
            raise errors.LwsError(forbidden_message(self.namespace))
        if resp.status != 200:
            return _failure(resp.status, status, port)
        if resp.cut:
            return f"metrics page over {MAX_BODY // 2 ** 20} MB: not read"
        try:
            return read_page(resp.data, t)
        except PageError as exc:
            return str(exc)


def _api_status(resp: Any) -> dict | None:
    """The API server's own Status (an error of the proxy itself), not a body the pod's server sent."""
    import json

    data = resp.data[:65536]
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == "Status" and doc.get("apiVersion") == "v1" else None


def _failure(code: int, status: dict | None, port: int | None) -> str:
    """Each failure said as such: refused, unreachable, no such page, an error of the server."""
    if status is not None:
        message = str(status.get("message") or "")
        low = message.lower()
        if "connection refused" in low:
            return f"connection refused: nothing listens on {port} (yet)"
        if "i/o timeout" in low or "no route to host" in low or "deadline exceeded" in low:
            return f"unreachable from the API server: {message.rsplit(': ', 1)[-1]}"
        if code == 400 and "address not allowed" in low:
            return "the pod has no IP the API server can proxy to"
        if code == 404:
            return "the pod is gone"
        return f"HTTP {code} from the API server: {message[:160]}"
    if code == 404:
        return "HTTP 404: no /metrics on this port (SGLang serves it only with --enable-metrics)"
    return f"HTTP {code} from the server"


# ---- groups -------------------------------------------------------------------------------------------

def _plan(obj: dict, pods: list[dict], wanted: list[int] | None, *, all_pods: bool,
          port: int | None) -> tuple[Any, list[tuple[Any, list]]]:
    """The serving plan and, per group shown, its scrape targets."""
    from kubectl_lws import errors
    from kubectl_lws.model.groups import group_pods, lws_view
    from kubectl_lws.model.metrics import serve_plan, targets

    view = lws_view(obj)
    plan = serve_plan(view, port, all_pods)
    groups = group_pods(pods, view.replicas)
    if wanted is not None:
        known = {g.index for g in groups}
        bad = [i for i in wanted if i not in known]
        if bad:
            raise errors.UsageError(f"group {', '.join(map(str, bad))} does not exist: {view.name} has "
                                    f"{'groups 0-' + str(max(known)) if known else 'no groups'}")
        groups = [g for g in groups if g.index in wanted]
    return plan, [(g, targets(g, plan, view.size)) for g in groups]


def _targets(groups: list[tuple[Any, list]]) -> list:
    return [t for _, ts in groups for t in ts]


def _rows(obj: dict, groups: list[tuple[Any, list]], first: Round, second: Round) -> list:
    from kubectl_lws.model.metrics import Snapshot, combine, mark_outliers, role_and_slice, window

    role, slice_ = role_and_slice((obj.get("metadata") or {}).get("labels") or {})
    rows = []
    for g, ts in groups:
        results = []
        for t in ts:
            a, b = first.results.get((t.pod, t.port)), second.results.get((t.pod, t.port))
            if isinstance(a, Snapshot) and isinstance(b, Snapshot):
                results.append(window(a, b))
            else:
                results.append(b if isinstance(b, str) else a if isinstance(a, str) else "no answer")
        rows.append(combine(g.index, role, slice_, [t.pod for t in ts], results))
    mark_outliers(rows)
    return rows


def _doc(obj: dict, rows: list, interval: float) -> dict:
    from kubectl_lws.model.metrics import metrics_doc

    meta = obj.get("metadata") or {}
    return metrics_doc(DOC_KIND, meta.get("name", ""), meta.get("namespace", ""), interval, rows)


def _print(app: Any, obj: dict, rows: list, interval: float, output: str, previous: list | None = None) -> None:
    from kubectl_lws.render.metrics import render_metrics
    from kubectl_lws.render.output import emit

    if output in ("json", "yaml"):
        emit(_doc(obj, rows, interval), output)
        return
    meta = obj.get("metadata") or {}
    app.out(render_metrics(KIND, meta.get("name", ""), meta.get("namespace", ""), rows, interval,
                           wide=output == "wide", previous=previous))


def _code(rows: list, exit_code: bool) -> int:
    return 3 if exit_code and any(r.outlier for r in rows) else 0


# ---- watch ----------------------------------------------------------------------------------------------

def _watch(app: Any, name: str, wanted: list[int] | None, scraper: Scraper, *, all_pods: bool, port: int | None,
           interval: float, concurrency: int, timeout: float | None, exit_code: bool, output: str) -> int:
    """Scrape every interval on the shared live view: ``waiting.Informer`` keeps the LWS and its pods (groups
    re-created, leaders moved), ``waiting.follow`` is the loop and ``terminal.LiveScreen`` the screen, as for
    ``status -w``. A colour terminal gets the live rich table; NO_COLOR, TERM=dumb or a pipe get a plain
    snapshot per refresh; -o json|yaml a document per refresh."""
    import contextlib

    from kubectl_lws import errors
    from kubectl_lws.model.keys import LWS_PLURAL, selector_for
    from kubectl_lws.render.output import dump_json_line, dump_yaml
    from kubectl_lws.terminal import LiveScreen, can_redraw
    from kubectl_lws.waiting import Informer, follow

    cluster = app.cluster
    obj = cluster.get_lws(name)  # fail fast, with close names
    ns = obj["metadata"]["namespace"]
    scraper.namespace = ns
    view = Informer(cluster, ns, [(LWS_PLURAL, None, f"metadata.name={name}"), ("pods", selector_for(name))],
                    name=name)
    live = output in ("table", "wide") and can_redraw(sys.stdout) and app.use_color()
    screen = LiveScreen() if live else None
    state: dict[str, Any] = {"round": None, "rows": None, "shown": 0}
    def update(_changed: bool) -> float | None:
        nxt = state["round"].started + interval if state["round"] is not None else None
        if nxt is not None and time.monotonic() < nxt:
            return nxt  # a change in the pods shows at the next refresh, with its numbers
        mine = [o for o in view.items(LWS_PLURAL) if (o.get("metadata") or {}).get("name") == name]
        if not mine:
            raise errors.LwsError(f'leaderworkerset "{name}" was deleted')
        current = mine[0]
        _, groups = _plan(current, view.items("pods"), wanted, all_pods=all_pods, port=port)
        if screen is not None and state["round"] is None:
            screen.draw(f"scraping {len(_targets(groups))} endpoints of {name} ... (Ctrl-C to quit)")
        new = scraper.round(_targets(groups), concurrency)
        old = state["round"]
        state["round"] = new
        if old is None:
            return new.started + interval
        rows = _rows(current, groups, old, new)
        window = new.started - old.started
        previous = state["rows"]
        state["rows"] = rows
        if output == "json":
            dump_json_line(_doc(current, rows, window))
        elif output == "yaml":
            sys.stdout.write("---\n")
            dump_yaml(_doc(current, rows, window))
            sys.stdout.flush()
        elif screen is not None:
            from kubectl_lws.model.timeutil import rfc3339, utc_now
            from kubectl_lws.render.metrics import render_live

            size = screen.size()
            stamp = f"Every {interval:g}s, last at {rfc3339(utc_now())}   (Ctrl-C to quit)"
            screen.draw(render_live(KIND, name, ns, rows, window, width=size.columns, height=size.lines,
                                    previous=previous, stamp=stamp))
        else:
            if state["shown"]:
                app.out()
            _print(app, current, rows, window, output, previous)
            sys.stdout.flush()
        state["shown"] += 1
        return new.started + interval

    try:
        with screen if screen is not None else contextlib.nullcontext():
            follow(view, update, timeout=timeout)
    finally:
        view.close()
    return _code(state["rows"] or [], exit_code)


def forbidden_message(namespace: str) -> str:
    return f"cannot read metrics: pods/proxy get forbidden in {namespace}"
