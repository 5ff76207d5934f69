"""The dashboard's server: the live view (``waiting.Informer``) drawn as HTML and pushed to browsers.

What it serves (GET only, every request with the token): ``/`` the LeaderWorkerSets and DisaggregatedSets
of the namespace (or of all), ``/lws/NS/NAME`` one LWS (groups, causes, violations, events timeline, its
map), ``/ds/NS/NAME`` one DisaggregatedSet (roles, its child LWS, events, the map of its children),
``/map`` the placement map, and ``/stream?view=...`` a Server-Sent Events stream of the same
view's HTML, sent again whenever the live view changes (a pod deleted shows within about a second).

Why server-side HTML: the map, tables and escaping are the ones of ``render/html`` and
``render/svg`` (the exports), tested once; the page's script only swaps the fragment in. Every
cluster string is escaped there, and the page's Content-Security-Policy allows no script but its
own (a nonce), so even a missed escape could not run.

Security (a local tool that shows what your kubeconfig can read): it binds 127.0.0.1 unless told
otherwise; a random token must come with every request (``?token=`` or ``Authorization: Bearer``),
else 403; any method but GET is 403; a stream requested from another Origin (or cross-site) is 403;
on loopback the Host header must name this server (no DNS rebinding); responses are ``no-store``
and ``no-referrer`` (the token is in the URL).

aiohttp is imported here only (the ``dashboard`` extra).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import quote

from aiohttp import web

from kubectl_lws import errors
from kubectl_lws.model import keys

# How long after a change the views are rebuilt (changes within it are drawn together).
DEBOUNCE_SECONDS = 0.3
# Views are redrawn this often without changes too (ages move).
REFRESH_SECONDS = 30.0
# A comment line on idle streams, so proxies and browsers keep them open.
KEEPALIVE_SECONDS = 15.0
EVENTS_KEPT = 200

CLIENT_SCRIPT = """
(function () {
  var token = new URLSearchParams(location.search).get("token") || "";
  var view = document.body.getAttribute("data-view");
  function say(text) { var el = document.getElementById("live"); if (el) { el.textContent = text; } }
  function connect() {
    var since = document.body.getAttribute("data-version") || "";
    var es = new EventSource("/stream?view=" + encodeURIComponent(view) + "&since=" + encodeURIComponent(since) +
                             "&token=" + encodeURIComponent(token));
    es.addEventListener("update", function (ev) {
      var d = JSON.parse(ev.data);
      document.getElementById("main").innerHTML = d.html;
      document.getElementById("subtitle").textContent = d.subtitle;
      document.body.setAttribute("data-version", String(d.version));
      say("live, updated " + new Date().toLocaleTimeString());
    });
    es.onopen = function () { say("live"); };
    es.onerror = function () { say("disconnected: reconnecting..."); };
  }
  connect();
})();
"""


def page_csp(nonce: str) -> str:
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass
class Settings:
    namespace: str | None  # None with all_namespaces
    all_namespaces: bool
    topology_keys: Sequence[str] = ()
    resource: str | None = None


@dataclass
class Rendered:
    version: int
    html: str
    subtitle: str
    title: str


class LiveViews:
    """The informer over LWS, pods, nodes and events, and the HTML of each view built from its stores."""

    def __init__(self, cluster: Any, settings: Settings, *, pods_everywhere: bool, kueue_levels: Sequence[str],
                 token: str, layers: Any = None, sets: bool = False, scalers: bool = False) -> None:
        from kubectl_lws.model.events import noise_field_selector
        from kubectl_lws.maps import ACTIVE_PODS
        from kubectl_lws.waiting import Informer

        self.settings = settings
        self.token = token
        self.layers = layers  # reads.layer_reader: the admission/gang/storage causes, as status -w reads them
        self.kueue_levels = list(kueue_levels)
        self.pods_everywhere = pods_everywhere
        self.sets = sets  # the cluster serves DisaggregatedSets: watch them too
        # and their role scalers (v0.10+), which hold an External role's desired count, as list reads them
        self.scalers = sets and scalers
        everywhere = {"pods"} if pods_everywhere else set()
        if settings.all_namespaces:
            everywhere |= {keys.LWS_PLURAL, "events", keys.DS_PLURAL, keys.DSRS_PLURAL}
        sources = [(keys.LWS_PLURAL, None), ("pods", None, ACTIVE_PODS), ("nodes", None),
                   ("events", None, noise_field_selector())] + ([(keys.DS_PLURAL, None)] if sets else []) \
            + ([(keys.DSRS_PLURAL, None)] if self.scalers else [])
        self.informer = Informer(cluster, settings.namespace, sources,
                                 optional={"nodes", "events", keys.DS_PLURAL, keys.DSRS_PLURAL},
                                 name="dashboard", all_namespaces=everywhere)
        self.cache: dict[str, Rendered] = {}
        self.lock = threading.Lock()

    # ---- building -----------------------------------------------------------------------------------
    def _inputs(self) -> tuple[list[dict], list[dict], list[dict] | None, list[dict]]:
        inf = self.informer
        nodes = None if "nodes" in inf.forbidden else inf.items("nodes")
        return inf.items(keys.LWS_PLURAL), inf.items("pods"), nodes, inf.items("events")

    def _assess(self, objs: list[dict], pods: list[dict], nodes: list[dict] | None,
                events: list[dict]) -> dict[tuple[str, str], Any]:
        """The one verdict on each LWS (``reads.verdict``, as ``status -w`` gives it), the events coming from
        the live view's store (routine reasons were left out on the server, as status's LIST does), the
        admission/gang/storage layers of not-Ready groups re-read at most every LIVE_LAYERS_MAX_AGE."""
        from kubectl_lws.model.groups import lws_view, pods_by_lws
        from kubectl_lws.model.health import nodes_by_name
        from kubectl_lws.reads import verdict

        node_map = nodes_by_name(nodes)
        by_lws = pods_by_lws(pods)
        readable = "events" not in self.informer.forbidden
        out = {}
        for obj in objs:
            v = lws_view(obj)

            def of_namespace(ns: str = v.namespace) -> tuple[list[dict] | None, dict]:
                if not readable:
                    return None, {"error": "events cannot be read (forbidden)"}
                return ([x for x in events if (x.get("metadata") or {}).get("namespace") == ns],
                        {"api": "v1", "truncated": False})

            out[(v.namespace, v.name)] = verdict(obj, by_lws.get((v.namespace, v.name), []), node_map,
                                                 events=of_namespace, layers=self.layers)
        return out

    def _map(self, objs: list[dict], pods: list[dict], nodes: list[dict] | None, assessments: dict) -> Any:
        from kubectl_lws.model import placemap as M
        from kubectl_lws.model.groups import lws_view

        levels, source = M.detect_levels(nodes or [], [lws_view(o) for o in objs],
                                         explicit=self.settings.topology_keys, kueue=self.kueue_levels)
        return M.build_map(objs, pods, nodes, levels=levels, levels_from=source, resource=self.settings.resource,
                           others_scope="cluster" if self.pods_everywhere else "namespace",
                           assessments=assessments)

    def link(self, path: str) -> str:
        return f"{path}?token={quote(self.token)}"

    def scope_title(self) -> str:
        return "all namespaces" if self.settings.all_namespaces else f"namespace {self.settings.namespace}"

    def build(self, view: str) -> tuple[str, str, str]:
        """(title, subtitle, main HTML) of one view; raises KeyError for a view that does not exist."""
        from kubectl_lws.render import html as H

        objs, pods, nodes, events = self._inputs()
        objs.sort(key=lambda o: ((o.get("metadata") or {}).get("namespace", ""),
                                 (o.get("metadata") or {}).get("name", "")))
        nav = (f'<nav><a href="{H.e(self.link("/"))}">LeaderWorkerSets</a> · '
               f'<a href="{H.e(self.link("/map"))}">placement map</a> · <span id="live">connecting...</span>'
               "</nav>")
        notes = ""
        if "nodes" in self.informer.forbidden:
            notes += '<p class="banner">Nodes cannot be read (forbidden): no levels, capacity or readiness.</p>'
        if view == "overview":
            assessed = self._assess(objs, pods, nodes, events)
            body = nav + notes + '<section id="overview"><h2>LeaderWorkerSets</h2>' + H.lws_table(
                list(assessed.values()), link=lambda a: self.link(f"/lws/{a.view.namespace}/{a.view.name}")) + \
                "</section>"
            ready = sum(1 for a in assessed.values() if a.state in ("Healthy", "Canary"))
            subtitle = f"{len(assessed)} LeaderWorkerSets, {ready} healthy"
            if self.sets and "disaggregatedsets" not in self.informer.forbidden:
                sets = self._sets(objs, assessed)
                body += '<section id="sets"><h2>DisaggregatedSets</h2>' + H.ds_table(
                    sets, link=lambda d: self.link(f"/ds/{d.view.namespace}/{d.view.name}")) + "</section>"
                subtitle += f"; {len(sets)} DisaggregatedSets"
            return f"kubectl lws dashboard: {self.scope_title()}", subtitle, body
        if view == "map":
            assessed = self._assess(objs, pods, nodes, events)
            m = self._map(objs, pods, nodes, assessed)
            return (f"kubectl lws dashboard: placement, {self.scope_title()}", H.map_subtitle(m),
                    nav + notes + H.map_sections(m, title=self.scope_title()))
        if view.startswith("lws/"):
            _, ns, name = view.split("/", 2)
            mine = [o for o in objs if (o.get("metadata") or {}).get("namespace") == ns
                    and (o.get("metadata") or {}).get("name") == name]
            if not mine:
                return (f"kubectl lws dashboard: {ns}/{name}", "not found",
                        nav + f'<p class="banner">LeaderWorkerSet {H.e(ns)}/{H.e(name)} does not exist (any more).</p>')
            return self._lws_page(mine[0], pods, nodes, events, nav + notes)
        if view.startswith("ds/"):
            _, ns, name = view.split("/", 2)
            return self._ds_page(ns, name, objs, pods, nodes, events, nav + notes)
        raise KeyError(view)

    def _scalers_in(self, namespace: str) -> list[dict] | None:
        """The role scalers of a namespace (None where they are not served or may not be read: an External
        role's desired count then shows as ``?``, as in ``list``)."""
        if not self.scalers or keys.DSRS_PLURAL in self.informer.forbidden:
            return None
        return [s for s in self.informer.items(keys.DSRS_PLURAL)
                if (s.get("metadata") or {}).get("namespace") == namespace]

    def _sets(self, objs: list[dict], assessed: dict) -> list[Any]:
        """Each DisaggregatedSet judged from the verdicts of its child LWS and its role scalers (as ``list``
        judges them)."""
        from kubectl_lws.model import ds as D
        from kubectl_lws.model.timeutil import utc_now

        now = utc_now()
        out = []
        for d in sorted(self.informer.items(keys.DS_PLURAL),
                        key=lambda d: ((d.get("metadata") or {}).get("namespace", ""), d["metadata"].get("name", ""))):
            view = D.ds_view(d)
            mine = [o for o in objs if (o.get("metadata") or {}).get("namespace") == view.namespace]
            out.append(D.assess_ds(view, mine, [], scalers=self._scalers_in(view.namespace), now=now,
                                   assessed=assessed))
        return out

    def _ds_page(self, ns: str, name: str, objs: list[dict], pods: list[dict], nodes: list[dict] | None,
                 events: list[dict], head: str) -> tuple[str, str, str]:
        from kubectl_lws.model import ds as D
        from kubectl_lws.model import events as E
        from kubectl_lws.model.timeutil import utc_now
        from kubectl_lws.render import html as H

        found = [d for d in self.informer.items(keys.DS_PLURAL) if (d.get("metadata") or {}).get("namespace") == ns
                 and (d.get("metadata") or {}).get("name") == name] if self.sets else []
        if not found:
            return (f"kubectl lws dashboard: {ns}/ds/{name}", "not found",
                    head + f'<p class="banner">DisaggregatedSet {H.e(ns)}/{H.e(name)} does not exist (any more).</p>')
        here = [o for o in objs if (o.get("metadata") or {}).get("namespace") == ns]
        refs = D.children_of(name, here)
        kids = [obj for _, obj in refs]
        assessed = self._assess(kids, pods, nodes, events)
        view = D.ds_view(found[0])
        da = D.assess_ds(view, kids, [], scalers=self._scalers_in(ns), now=utc_now(),
                         assessed=assessed)  # as list judges a set
        m = self._map(kids, pods, nodes, assessed)
        mine = [x for x in events if (x.get("metadata") or {}).get("namespace") == ns]
        timeline = D.events_of_ds(E.normalize_all(mine), view, refs,
                                  others=[o["metadata"]["name"] for o in here if o not in kids])
        body = (head + f'<section id="ds" data-ds="{H.e(ns)}/{H.e(name)}"><h2>{H.e(ns)}/ds/{H.e(name)}: '
                f"{H.state(da.state)}</h2><p>{H.e(da.reason)}</p>" + H.ds_table([da])
                + "<h3>Child LeaderWorkerSets</h3>"
                + H.lws_table([c.a for c in da.children], link=lambda a: self.link(f"/lws/{a.view.namespace}/{a.view.name}"))
                + "</section>" + '<section id="events"><h2>Events</h2>'
                + H.events_table(timeline, utc_now(), EVENTS_KEPT) + "</section>"
                + H.map_sections(m, title=f"{ns}/ds/{name}"))
        return f"kubectl lws dashboard: {ns}/ds/{name}", f"{da.state}: {da.reason}", body

    def _lws_page(self, obj: dict, pods: list[dict], nodes: list[dict] | None, events: list[dict],
                  head: str) -> tuple[str, str, str]:
        from kubectl_lws.model import events as E
        from kubectl_lws.model.timeutil import utc_now
        from kubectl_lws.render import html as H

        ns, name = obj["metadata"].get("namespace", ""), obj["metadata"].get("name", "")
        assessed = self._assess([obj], pods, nodes, events)
        a = assessed[(ns, name)]
        m = self._map([obj], pods, nodes, assessed)
        mine = [x for x in events if (x.get("metadata") or {}).get("namespace") == ns]
        timeline = E.events_of_lws(E.normalize_all(E.raw_of_lws(mine, name)), name)
        body = (head + f'<section id="lws" data-lws="{H.e(ns)}/{H.e(name)}"><h2>{H.e(ns)}/{H.e(name)}: '
                f"{H.state(a.state)}</h2><p>{H.e(a.reason)}</p>" + H.groups_table(a) + "</section>"
                + '<section id="events"><h2>Events</h2>' + H.events_table(timeline, utc_now(), EVENTS_KEPT)
                + "</section>" + H.map_sections(m, title=f"{ns}/{name}"))
        return f"kubectl lws dashboard: {ns}/{name}", f"{a.state}: {a.reason}", body

    def render(self, view: str) -> Rendered:
        """Build ``view`` and keep it; the version moves only when the HTML changed."""
        title, subtitle, body = self.build(view)
        with self.lock:
            old = self.cache.get(view)
            if old is not None and old.html == body and old.subtitle == subtitle:
                return old
            new = Rendered((old.version + 1) if old else 1, body, subtitle, title)
            self.cache[view] = new
            return new


@dataclass
class Subscribers:
    """Stream clients per view, woken when their view's version moves."""

    views: dict[str, int] = field(default_factory=dict)  # view -> number of open streams
    changed: asyncio.Condition | None = None


class Dashboard:
    """The aiohttp application around LiveViews."""

    def __init__(self, live: LiveViews, *, host: str, port: int, token: str) -> None:
        self.live = live
        self.host = host
        self.port = port
        self.token = token
        self.subs = Subscribers()
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="dashboard")
        self.runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._reported: set[str] = set()

    # ---- security -----------------------------------------------------------------------------------
    def allowed_hosts(self) -> set[str]:
        names = {self.host, "127.0.0.1", "localhost", "[::1]"}
        if ":" in self.host and not self.host.startswith("["):
            names.add(f"[{self.host}]")
        return {f"{n}:{self.port}" for n in names}

    def _token_ok(self, request: web.Request) -> bool:
        given = request.query.get("token", "")
        auth = request.headers.get("Authorization", "")
        if not given and auth.startswith("Bearer "):
            given = auth[len("Bearer "):]
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    @web.middleware
    async def guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.method != "GET":
            return _refuse("only GET is served: the dashboard is read-only")
        if self.loopback and request.headers.get("Host", "") not in self.allowed_hosts():
            return _refuse("unexpected Host header")  # a DNS-rebinding page names another host
        if not self._token_ok(request):
            return _refuse("missing or wrong token: open the URL that kubectl lws dashboard printed")
        response = await handler(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "::1")

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{request.headers.get('Host', '')}":
            return False
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")

    # ---- handlers -----------------------------------------------------------------------------------
    async def _rendered(self, view: str) -> Rendered:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.live.render, view)

    def _report(self, view: str, exc: BaseException) -> None:
        """Say once per view on stderr why it could not be drawn (the server goes on)."""
        import sys

        if view not in self._reported:
            self._reported.add(view)
            sys.stderr.write(f"warning: dashboard: cannot draw {view}: {type(exc).__name__}: {exc}\n")

    async def page(self, request: web.Request, view: str) -> web.Response:
        from kubectl_lws.render.html import page

        try:
            r = await self._rendered(view)
        except KeyError:
            raise web.HTTPNotFound() from None
        except Exception as exc:  # noqa: BLE001
            self._report(view, exc)
            return web.Response(status=500, text="500: this view cannot be drawn (see the dashboard's stderr)\n")
        nonce = secrets.token_urlsafe(16)
        csp = page_csp(nonce)
        text = page(r.title, r.html, csp=csp, script=CLIENT_SCRIPT, nonce=nonce, subtitle=r.subtitle)
        text = text.replace("<body>", f'<body data-view="{_attr(view)}" data-version="{r.version}">', 1)
        return web.Response(text=text, content_type="text/html", headers={"Content-Security-Policy": csp})

    async def overview(self, request: web.Request) -> web.Response:
        return await self.page(request, "overview")

    async def map_view(self, request: web.Request) -> web.Response:
        return await self.page(request, "map")

    async def lws(self, request: web.Request) -> web.Response:
        return await self._named(request, "lws")

    async def ds(self, request: web.Request) -> web.Response:
        return await self._named(request, "ds")

    async def _named(self, request: web.Request, kind: str) -> web.Response:
        """The page of one LWS or DisaggregatedSet; a namespace or name that cannot exist is 404."""
        from kubectl_lws.names import check_name, check_namespace

        try:
            ns = check_namespace(request.match_info["namespace"])
            name = check_name(request.match_info["name"])
        except errors.UsageError:
            raise web.HTTPNotFound() from None
        return await self.page(request, f"{kind}/{ns}/{name}")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if not self._same_origin(request):
            return _refuse("streams are served to this dashboard's own pages only")
        view = request.query.get("view", "overview")
        if not (view in ("overview", "map") or (view.startswith(("lws/", "ds/")) and view.count("/") == 2)):
            raise web.HTTPNotFound()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        cond = self.subs.changed
        assert cond is not None
        self.subs.views[view] = self.subs.views.get(view, 0) + 1
        since = request.query.get("since", "")
        sent = int(since) if since.isdigit() else -1  # the version the page already shows
        try:
            while not self._closing:
                try:
                    r = self.live.cache.get(view) or await self._rendered(view)
                except Exception as exc:  # noqa: BLE001 — nothing to send yet; the next change may draw it
                    self._report(view, exc)
                    r = Rendered(sent, "", "", "")
                if r.version != sent:
                    payload = json.dumps({"version": r.version, "html": r.html, "subtitle": r.subtitle})
                    await resp.write(f"event: update\ndata: {payload}\n\n".encode())
                    sent = r.version
                async with cond:
                    current = self.live.cache.get(view)
                    if current is not None and current.version != sent:
                        continue  # drawn while we were writing: send it now, not at the next change
                    try:
                        await asyncio.wait_for(cond.wait(), KEEPALIVE_SECONDS)
                    except asyncio.TimeoutError:
                        await resp.write(b": keep-alive\n\n")
        except ConnectionResetError:
            pass  # the browser went away
        finally:
            self.subs.views[view] -= 1
            if not self.subs.views[view]:
                del self.subs.views[view]
        return resp

    # ---- the live loop ------------------------------------------------------------------------------
    async def follow(self) -> None:
        """Rebuild the watched views after each burst of changes (and every REFRESH_SECONDS)."""
        loop = asyncio.get_running_loop()
        seen = self.live.informer.changes
        last = time.monotonic()
        while not self._closing:
            try:
                changes = await loop.run_in_executor(self.pool, self.live.informer.wait_change, seen, 1.0)
            except Exception:  # noqa: BLE001 — the live view broke: serve() ends with its error
                return
            stale = time.monotonic() - last >= REFRESH_SECONDS
            if changes == seen and not stale:
                continue
            await asyncio.sleep(DEBOUNCE_SECONDS)
            seen = self.live.informer.changes
            last = time.monotonic()
            moved = False
            for view in list(self.subs.views):
                before = self.live.cache.get(view)
                try:
                    r = await loop.run_in_executor(self.pool, self.live.render, view)
                except KeyError:
                    continue
                except Exception as exc:  # noqa: BLE001 — one view that cannot be drawn keeps its last picture
                    self._report(view, exc)
                    continue
                moved = moved or before is None or r.version != before.version
            # views nobody watches are rebuilt on their next request
            for view in [v for v in self.live.cache if v not in self.subs.views]:
                del self.live.cache[view]
            if moved and self.subs.changed is not None:
                async with self.subs.changed:
                    self.subs.changed.notify_all()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/", self.overview, allow_head=False)
        app.router.add_get("/map", self.map_view, allow_head=False)
        app.router.add_get("/lws/{namespace}/{name}", self.lws, allow_head=False)
        app.router.add_get("/ds/{namespace}/{name}", self.ds, allow_head=False)
        app.router.add_get("/stream", self.stream, allow_head=False)
        return app

    async def start(self) -> int:
        """Listen; returns the port (a random one when asked for 0)."""
        self.subs.changed = asyncio.Condition()
        self.runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, shutdown_timeout=1.0)
        try:
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            raise errors.LwsError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}",
                                  hint="choose another --port (0 picks a free one)") from None
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._tasks.append(asyncio.get_running_loop().create_task(self.follow()))
        return self.port

    async def stop(self) -> None:
        self._closing = True
        if self.subs.changed is not None:
            async with self.subs.changed:
                self.subs.changed.notify_all()
        for task in self._tasks:
            task.cancel()
        if self.runner is not None:
            await self.runner.cleanup()
        self.live.informer.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _refuse(why: str) -> web.Response:
    return web.Response(status=403, text=f"403 Forbidden: {why}\n", content_type="text/plain",
                        headers={"Cache-Control": "no-store"})


def _attr(text: str) -> str:
    from html import escape

    return escape(text, quote=True)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def serve(app_ctx: Any, settings: Settings, *, host: str, port: int, open_browser: bool, start_view: str,
          on_ready: Callable[[str], None]) -> None:
    """Run until Ctrl-C (KeyboardInterrupt, re-raised after everything is closed)."""
    from kubectl_lws.maps import kueue_topologies
    from kubectl_lws.model.placemap import kueue_levels
    from kubectl_lws.reads import LIVE_LAYERS_MAX_AGE, layer_reader

    cluster = app_ctx.cluster
    everywhere = _may_list_all_pods(cluster)
    if not everywhere:
        app_ctx.warn("cannot list pods in every namespace (forbidden): the map counts other pods of this "
                     "namespace only")
    kueue = [] if settings.topology_keys else kueue_levels(_quiet(lambda: kueue_topologies(cluster), []))
    token = new_token()
    served = _served_set_kinds(cluster)
    live = LiveViews(cluster, settings, pods_everywhere=everywhere, kueue_levels=kueue, token=token,
                     layers=layer_reader(app_ctx, LIVE_LAYERS_MAX_AGE), sets=keys.DS_PLURAL in served,
                     scalers=keys.DSRS_PLURAL in served)
    live.informer.start(timeout=60)
    dash = Dashboard(live, host=host, port=port, token=token)
    loop = asyncio.new_event_loop()
    try:
        bound = loop.run_until_complete(dash.start())
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{bound}{start_view}?token={quote(token)}"
        on_ready(url)
        if open_browser:
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        loop.run_until_complete(_forever(live))
    finally:
        try:
            loop.run_until_complete(dash.stop())
        finally:
            loop.close()


async def _forever(live: LiveViews) -> None:
    """Wait until interrupted; a broken live view (the API server gone for good) ends it with its error."""
    loop = asyncio.get_running_loop()
    while True:
        await loop.run_in_executor(None, live.informer.wait_change, live.informer.changes, 2.0)


def _served_set_kinds(cluster: Any) -> set[str]:
    """Which of the DisaggregatedSet API's resources are served (one discovery GET; v0.9 has no role
    scalers): the dashboard watches those only."""
    try:
        found = cluster.request("GET", f"/apis/{keys.DS_GROUP}/{keys.DS_VERSION}")
    except errors.LwsError:
        return set()
    names = {r.get("name") for r in (found or {}).get("resources") or [] if isinstance(r, dict)}
    return {kind for kind in (keys.DS_PLURAL, keys.DSRS_PLURAL) if kind in names}


def _may_list_all_pods(cluster: Any) -> bool:
    try:
        cluster.request("GET", "/api/v1/pods", query={"limit": 1})
        return True
    except errors.Forbidden:
        return False


def _quiet(fn: Callable[[], Any], default: Any) -> Any:
    try:
        return fn()
    except errors.LwsError:
        return default
