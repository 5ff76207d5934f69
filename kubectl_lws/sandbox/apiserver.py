"""The sandbox's Kubernetes API server on aiohttp.

One catch-all handler parses kube's URL grammar (``/api/v1/...``, ``/apis/<g>/<v>/...``), authenticates
the bearer token, authorizes with simple rule sets, then runs the verb against the :class:`Store`.
Responses mirror kube-apiserver's bytes where clients can tell (Status bodies, list shapes, Table,
watch lines); ``shared/golden`` is the reference.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import unquote

from aiohttp import web

# Per-request storage keys (typed keys where aiohttp has them, to avoid its NotAppKeyWarning).
_RequestKey = getattr(web, "RequestKey", None)
_REQ_T0 = _RequestKey("sandbox_t0", float) if _RequestKey else "sandbox_t0"
_REQ_USER = _RequestKey("sandbox_user", str) if _RequestKey else "sandbox_user"
_REQ_LOGGED = _RequestKey("sandbox_logged", bool) if _RequestKey else "sandbox_logged"

from . import errors, patch as patching, rbac, tables
from .errors import ApiError
from . import kueue_api
from .resources import EXTRA_GROUP_VERSIONS, RESOURCES, ResourceType, groups, is_served, lookup
from .selectors import field_matcher, label_matcher, parse_field_selector
from .store import now_iso

if TYPE_CHECKING:  # pragma: no cover
    from .sandbox import Sandbox

JSON = "application/json"
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                  "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
BOOKMARK_INTERVAL = 30.0  # seconds between idle BOOKMARK events when a watch allows them (kube: ~1 min)
_ANONYMOUS_PATHS = ("/version", "/healthz", "/readyz", "/livez")

VERSION_INFO = {
    "major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36", "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35", "gitVersion": "v1.36.2-sandbox", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2026-11-22T00:00:00Z", "goVersion": "go1.26.6", "compiler": "gc",
    "platform": "linux/amd64",
}

# Subresource discovery facts: name -> (group, version, kind, verbs); group/version None = the parent's.
_SUBRESOURCE_INFO: dict[str, tuple[str | None, str | None, str | None, list[str]]] = {
    "status": (None, None, None, ["get", "patch", "update"]),
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "binding": ("", "", "Binding", ["create"]),
    "eviction": ("policy", "v1", "Eviction", ["create"]),
    "log": (None, None, None, ["get"]),
    "exec": ("", "", "PodExecOptions", ["create", "get"]),
    "proxy": ("", "", "PodProxyOptions", ["create", "delete", "get", "patch", "update"]),
    "finalize": (None, None, None, ["update"]),
    "pendingworkloads": (None, None, "PendingWorkloadsSummary", ["get"]),
}


class RequestLog:
    """Bounded log of served requests plus running counters, so counting never scans the history."""

    def __init__(self, maxlen: int = 10_000):
        self.entries: deque[tuple[str, str, str, int, float, str]] = deque(maxlen=maxlen)
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, method: str, path: str, query: str, status: int, ms: float, user: str) -> None:
        self.entries.append((method, path, query, status, ms, user))
        self._counts[(method, path)] += 1

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        """Requests since the last clear, filtered by method and path prefix (sums distinct paths only)."""
        for _ in range(5):  # the loop thread may add a key while a test thread counts
            try:
                items = list(self._counts.items())
                break
            except RuntimeError:
                continue
        else:
            items = []
        return sum(n for (m, p), n in items
                   if (method is None or m == method.upper()) and (path_prefix is None or p.startswith(path_prefix)))

    def clear(self) -> None:
        self.entries.clear()
        self._counts.clear()

    def snapshot(self) -> list[tuple[str, str, str, int, float, str]]:
        """A copy of the entries, safe to take from another thread while requests are served."""
        for _ in range(10):
            try:
                return list(self.entries)
            except RuntimeError:  # deque mutated during iteration
                continue
        return []

    def as_json(self) -> list[dict]:
        return [{"method": m, "path": p, "query": q, "status": s, "ms": round(ms, 3), "user": u}
                for m, p, q, s, ms, u in self.snapshot()]


# Reviews every authenticated caller may create about itself -> the handler answering them.
_SELF_REVIEWS = {"selfsubjectaccessreviews": "_access_review", "selfsubjectrulesreviews": "_rules_review",
                 "selfsubjectreviews": "_self_review"}


def json_bytes(obj: Any, *, pretty: bool = False, sort_keys: bool = False) -> bytes:
    if pretty:
        return (json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n").encode()
    return (json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False) + "\n").encode()


def error_response(e: ApiError) -> web.Response:
    retry_after = getattr(e, "retry_after", None)
    if retry_after is None:
        return web.Response(status=e.code, body=json_bytes(e.status()), content_type=JSON)
    body = e.status()
    body.setdefault("details", {})["retryAfterSeconds"] = retry_after
    return web.Response(status=e.code, body=json_bytes(body), content_type=JSON,
                        headers={"Retry-After": str(retry_after)})


def not_found_text() -> web.Response:
    return web.Response(status=404, text="404 page not found\n", content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


class Route:
    """A parsed resource URL."""
    __slots__ = ("rt", "group", "version", "namespace", "name", "sub", "path")

    def __init__(self, rt: ResourceType, group: str, version: str, namespace: str | None, name: str | None,
                 sub: str | None, path: str = ""):
        self.rt, self.group, self.version = rt, group, version
        self.namespace, self.name, self.sub = namespace, name, sub
        self.path = path  # pods/proxy: what follows .../proxy (the path on the pod)


def _continue_encode(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_B64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _continue_decode(token: str) -> tuple[int, str]:
    """Decode a continue token; errors word themselves like Go's base64/json packages."""
    for i, ch in enumerate(token):
        if ch not in _B64URL:
            raise errors.bad_request(f"invalid continue token: continue key is not valid: illegal base64 data at "
                                     f"input byte {i}")
    if len(token) % 4 == 1:
        raise errors.bad_request(f"invalid continue token: continue key is not valid: illegal base64 data at "
                                 f"input byte {len(token) - 1}")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = int(data["rv"]), str(data["start"])
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request("invalid continue token: continue key is not valid: "
                                 "not a continue key for this version") from None
    return rv, start.rstrip("\x00")


class ApiServer:
    """aiohttp application serving the Kubernetes API from ``sandbox.store``."""

    def __init__(self, sandbox: "Sandbox"):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.log = sandbox.request_log
        self.fail_rules: list[dict] = []
        self.stall_rules: list[dict] = []
        self.open_streams: dict[int, tuple[str, web.Request, Callable[[], None] | None]] = {}
        self.stalled_exec: set[tuple[str, str]] = set()  # (namespace, pod) whose exec streams stall
        self.delay_rules: list[dict] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.app.on_response_prepare.append(self._on_response_prepare)
        self._admit: Callable[..., dict] | None = None
        self._admit_loaded = False

    # ----------------------------------------------------------------------------------- plumbing
    def admit(self, operation: str, resource: str, obj: dict, old: dict | None) -> dict:
        """Run the controllers dev's admission (webhooks) if present."""
        if not self._admit_loaded:
            self._admit_loaded = True
            try:
                from . import webhooks  # noqa: PLC0415 - optional plug-in
                self._admit = webhooks.admit
            except ImportError:
                self._admit = None
        if self._admit is not None:
            obj = self._admit(self.sandbox, operation, resource, obj, old)
        if resource == "pods" and operation == "CREATE":  # denying webhooks, then ResourceQuota
            from .admission import check_pod  # noqa: PLC0415
            check_pod(self.sandbox, self.store, obj)
        return obj

    def add_fail_rule(self, path_prefix: str = "/", status: int = 500, count: int = 1,
                      message: str | None = None, method: str | None = None,
                      retry_after: int | None = None) -> dict:
        rule = {"path_prefix": path_prefix, "status": int(status), "remaining": int(count),
                "message": message, "method": method.upper() if method else None,
                "retry_after": None if retry_after is None else int(retry_after)}
        self.fail_rules.append(rule)
        out = {"path_prefix": path_prefix, "status": int(status), "count": int(count)}
        if retry_after is not None:
            out["retry_after"] = int(retry_after)
        return out

    def add_delay_rule(self, path_prefix: str = "/", seconds: float = 1.0, count: int = 1,
                       method: str | None = None) -> dict:
        """The next ``count`` matching requests are served, then answered ``seconds`` late (the change
        is made and the controllers act on it while the client still waits for the answer)."""
        rule = {"path_prefix": path_prefix, "seconds": float(seconds), "remaining": int(count),
                "method": method.upper() if method else None}
        self.delay_rules.append(rule)
        return {"path_prefix": path_prefix, "seconds": float(seconds), "count": int(count)}

    def _injected_delay(self, request: web.Request) -> float:
        for rule in self.delay_rules:
            if rule["remaining"] > 0 and request.path.startswith(rule["path_prefix"]) and \
                    (rule["method"] is None or rule["method"] == request.method):
                rule["remaining"] -= 1
                if rule["remaining"] == 0:
                    self.delay_rules.remove(rule)
                return rule["seconds"]
        return 0.0

    def add_stall_rule(self, path_prefix: str = "/", seconds: float = 3600.0, count: int = 1,
                       after_headers: bool = False, method: str | None = None) -> dict:
        """The next ``count`` matching requests are held ``seconds`` before any answer, or (with
        ``after_headers``) get their status line and headers, part of the body, and then nothing."""
        rule = {"path_prefix": path_prefix, "seconds": float(seconds), "remaining": int(count),
                "after_headers": bool(after_headers), "method": method.upper() if method else None}
        self.stall_rules.append(rule)
        return {"path_prefix": path_prefix, "seconds": float(seconds), "count": int(count),
                "after_headers": bool(after_headers)}

    def _stall_rule(self, request: web.Request) -> dict | None:
        for rule in self.stall_rules:
            if rule["remaining"] > 0 and request.path.startswith(rule["path_prefix"]) and \
                    (rule["method"] is None or rule["method"] == request.method):
                rule["remaining"] -= 1
                if rule["remaining"] == 0:
                    self.stall_rules.remove(rule)
                return rule
        return None

    async def _stall(self, request: web.Request, rule: dict) -> web.StreamResponse | None:
        """Hold the request as the rule says; None when the caller should then answer normally."""
        if not rule["after_headers"]:
            await asyncio.sleep(rule["seconds"])
            return None
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.content_length = 1 << 20
        await resp.prepare(request)
        await resp.write(b'{"kind": "Status", "apiVersion": "v1", "metadata": {}, ')
        await asyncio.sleep(rule["seconds"])
        return resp

    def _injected_failure(self, request: web.Request) -> ApiError | None:
        for rule in self.fail_rules:
            if rule["remaining"] > 0 and request.path.startswith(rule["path_prefix"]) and \
                    (rule["method"] is None or rule["method"] == request.method):
                rule["remaining"] -= 1
                if rule["remaining"] == 0:
                    self.fail_rules.remove(rule)
                code = rule["status"]
                msg = rule["message"] or f"injected failure (sandbox fault fail-requests): HTTP {code}"
                err = ApiError(code, errors.reason_for(code), msg)
                if rule.get("retry_after") is not None:
                    # kube's 429 (priority and fairness, max-in-flight) carries Retry-After and
                    # details.retryAfterSeconds; clients back off by it
                    err.retry_after = rule["retry_after"]  # type: ignore[attr-defined]
                return err
        return None

    # ------------------------------------------------------------------ faults inside running streams
    def break_streams(self, kind: str = "all", mode: str = "reset") -> dict:
        """Cut the watch and/or log streams that are open now: ``reset`` aborts the TCP connection mid
        response; ``expire`` ends a watch with an in-stream 410 Expired (log streams are reset)."""
        if kind not in ("all", "watch", "log", "exec"):
            raise ValueError(f"kind must be all, watch, log or exec, got {kind!r}")
        if mode not in ("reset", "expire"):
            raise ValueError(f"mode must be reset or expire, got {mode!r}")
        hit = 0
        for skind, request, expire in list(self.open_streams.values()):
            if kind != "all" and skind != kind:
                continue
            hit += 1
            if mode == "expire" and expire is not None:
                expire()
            elif request.transport is not None:
                request.transport.abort()
        return {"streams": hit, "kind": kind, "mode": mode}

    def _track_stream(self, kind: str, request: web.Request, expire: Callable[[], None] | None = None
                      ) -> Callable[[], None]:
        key = id(request)
        self.open_streams[key] = (kind, request, expire)
        return lambda: self.open_streams.pop(key, None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        request[_REQ_T0] = t0
        status, user = 500, "-"
        try:
            stall = self._stall_rule(request) if self.stall_rules else None
            if stall is not None:
                held = await self._stall(request, stall)
                if held is not None:
                    status = held.status
                    return held
            resp, user = await self._handle(request)
            status = resp.status
            if request.headers.get("User-Agent", "").startswith("curl"):
                resp = _pretty(resp)
            return resp
        except ApiError as e:
            status = e.code
            if request.headers.get("User-Agent", "").startswith("curl"):
                return _pretty(error_response(e))
            return error_response(e)
        except web.HTTPException as e:
            status = e.status
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            status = 499
            raise
        except Exception as e:  # noqa: BLE001 - a server must answer, and the log tells why
            status = 500
            import traceback
            traceback.print_exc()
            return error_response(ApiError(500, "InternalError", f"Internal error occurred: {e!r}"))
        finally:
            if not request.get(_REQ_LOGGED):
                request[_REQ_LOGGED] = True
                self.log.add(request.method, request.path, request.query_string, status,
                             (time.perf_counter() - t0) * 1000.0, user)

    async def _on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Log a streaming request (watch, follow, exec) when its response starts, not when it ends.

        Plain responses are logged by ``handle`` before aiohttp prepares them; a stream is prepared
        inside its handler, so a request log read while a watch runs already counts it. The time
        logged is the time to the first byte, as kubectl -v 6 reports it.
        """
        if request.get(_REQ_LOGGED) or _REQ_T0 not in request:
            return
        request[_REQ_LOGGED] = True
        self.log.add(request.method, request.path, request.query_string, response.status,
                     (time.perf_counter() - request[_REQ_T0]) * 1000.0, request.get(_REQ_USER, "-"))

    def _authenticate(self, request: web.Request) -> tuple[str, dict] | None:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            # kubectl sends no bearer token over plain HTTP; like kube's old insecure port, plain-HTTP
            # sandboxes treat a request without credentials as the configured anonymous identity.
            anon = self.sandbox.anonymous
            return (anon.get("user", "system:anonymous"), anon) if anon is not None else None
        token = auth[7:].strip()
        entry = self.sandbox.tokens.get(token)
        if entry is None:
            return None
        return entry.get("user", "admin"), entry

    def _impersonate(self, request: web.Request, user: str, entry: dict) -> tuple[str, dict]:
        """``Impersonate-User``/``-Group``: the requester needs ``impersonate`` on users (groups), then the
        request runs with the impersonated user's rights, as kube-apiserver's filter does. A user's rights
        are the rules of the tokens issued to that name (none: no rights at all); ``system:masters`` or the
        admin user's name get everything."""
        target = request.headers.get("Impersonate-User")
        groups_ = request.headers.getall("Impersonate-Group", [])
        uid = request.headers.get("Impersonate-Uid")
        extras = [(k[len("Impersonate-Extra-"):], v) for k, v in request.headers.items()
                  if k.lower().startswith("impersonate-extra-")]
        if not target and not groups_ and not uid and not extras:
            return user, entry
        if not target:  # kube-apiserver's impersonation filter refuses these alone
            raise errors.bad_request("requested impersonation of groups, a uid or user-extra without a user")
        for kind, names in (("users", [target]), ("groups", groups_), ("uids", [uid] if uid else []),
                            ("userextras", [k for k, _ in extras])):
            for name in names:
                if not self._may_impersonate(entry, kind):
                    raise errors.forbidden(f'{kind} "{name}" is forbidden: User "{user}" cannot impersonate '
                                           f'resource "{kind}" in API group "" at the cluster scope')
        who = target
        if who == self.sandbox.admin_user or "system:masters" in groups_:
            return who, {"user": who, "rules": None, "groups": groups_}
        rules: list[dict] = []
        for tok_entry in self.sandbox.tokens.values():
            if tok_entry.get("user") == who:
                if tok_entry.get("rules") is None:
                    return who, {"user": who, "rules": None, "groups": groups_}
                rules += list(tok_entry["rules"])
        return who, {"user": who, "rules": rules, "groups": groups_}

    @staticmethod
    def _may_impersonate(entry: dict, kind: str) -> bool:
        rules = entry.get("rules")
        if rules is None:
            return True
        return any(("*" in (r.get("verbs") or []) or "impersonate" in (r.get("verbs") or []))
                   and ({"*", kind} & set(r.get("resources") or [])) for r in rules)

    def allowed(self, entry: dict, verb: str, rt: ResourceType, namespace: str | None, sub: str | None,
                name: str | None = None) -> bool:
        """The caller's token rules, every authenticated caller's basics, and the RBAC bindings the
        store holds for the caller's user and groups (sandbox/rbac.py)."""
        rules = entry.get("rules")
        if rules is None:
            return True
        user = entry.get("user", "")
        groups = rbac.groups_of(user, entry.get("groups") or ())
        resource = rt.plural + (f"/{sub}" if sub else "")
        candidates = list(rules) + rbac.BASIC_USER_RULES + rbac.bound_rules(self.store, user, groups)
        return any(rbac.rule_allows(rule, verb, rt.group, resource, namespace, name) for rule in candidates)

    async def _handle(self, request: web.Request) -> tuple[web.StreamResponse, str]:
        path = request.path
        if path.startswith("/sandbox/"):
            ident = self._authenticate(request)
            if ident is None or ident[1].get("rules") is not None:
                raise errors.unauthorized() if ident is None else errors.forbidden("admin token required")
            return await self._admin(request), ident[0]
        failure = self._injected_failure(request)
        if failure is not None:
            raise failure
        ident = self._authenticate(request)
        if path in _ANONYMOUS_PATHS:
            return self._simple(request, path), ident[0] if ident else "system:anonymous"
        if ident is None:
            raise errors.unauthorized()
        user, entry = self._impersonate(request, *ident)
        request[_REQ_USER] = user
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi_v3(parts[2:]), user
        if not parts or parts[0] not in ("api", "apis"):
            return self._simple(request, path), user
        resp = self._discovery(request, parts)
        if resp is not None:
            return resp, user
        route = self._route(parts)
        if route is None:
            return not_found_text(), user
        verb = self._verb(request, route)
        if verb is None:
            raise errors.method_not_allowed(f"the server does not allow this method on the requested resource")
        if route.rt.plural in _SELF_REVIEWS and verb == "create":  # every authenticated user may ask
            return await getattr(self, _SELF_REVIEWS[route.rt.plural])(request, entry), user
        if not self.allowed(entry, verb, route.rt, route.namespace, route.sub, route.name):
            raise errors.rbac_forbidden(user, verb, route.rt.plural, route.rt.group, route.namespace, route.name,
                                        route.sub)
        delay = self._injected_delay(request)
        resp = await self._serve(request, route, verb)
        if delay:
            await asyncio.sleep(delay)
        return resp, user

    def _simple(self, request: web.Request, path: str) -> web.Response:
        if path == "/version":
            return web.Response(body=json.dumps(VERSION_INFO, indent=2).encode(), content_type=JSON)
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok", content_type="text/plain")
        return not_found_text()

    # ---------------------------------------------------------------------------------- discovery
    def _discovery(self, request: web.Request, parts: list[str]) -> web.StreamResponse | None:
        accept = request.headers.get("Accept", "")
        aggregated = "as=APIGroupDiscoveryList" in accept
        all_groups = groups(self.sandbox.addons)
        if parts == ["api"]:
            if aggregated:
                return self._aggregated([""], accept)
            host = request.host or "127.0.0.1"
            return self._json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs":
                               [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
        if parts == ["apis"]:
            names = sorted(g for g in all_groups if g)
            if aggregated:
                return self._aggregated(names, accept)
            return self._json({"kind": "APIGroupList", "apiVersion": "v1",
                               "groups": [self._group_doc(g, all_groups[g]) for g in names]})
        if parts[0] == "api" and len(parts) == 2:
            if parts[1] != "v1":
                return not_found_text()
            return self._json(self._resource_list("", "v1"))
        if parts[0] == "apis" and len(parts) == 2:
            if parts[1] not in all_groups or not parts[1]:
                return not_found_text()
            return self._json({"kind": "APIGroup", "apiVersion": "v1",
                               **self._group_doc(parts[1], all_groups[parts[1]])})
        if parts[0] == "apis" and len(parts) == 3:
            if parts[2] not in all_groups.get(parts[1], []) or not parts[1]:
                return not_found_text()
            return self._json(self._resource_list(parts[1], parts[2]))
        return None

    def _openapi_v3(self, rest: list[str]) -> web.Response:
        """A minimal OpenAPI v3: one PATCH path per resource advertising ``fieldValidation``, so kubectl
        create/apply use server-side validation (which the sandbox accepts) instead of downloading schemas."""
        all_groups = groups(self.sandbox.addons)
        gvs = [("", "v1")] + [(g, v) for g in sorted(all_groups) if g for v in all_groups[g]]

        def gv_path(g: str, v: str) -> str:
            return f"api/{v}" if not g else f"apis/{g}/{v}"
        if not rest:
            return self._json({"paths": {gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{gv_path(g, v)}"
                                                                             f"?hash=SANDBOX"} for g, v in gvs}})
        wanted = "/".join(rest)
        match = next(((g, v) for g, v in gvs if gv_path(g, v) == wanted), None)
        if match is None:
            return not_found_text()
        g, v = match
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        param = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for rt in self._served(g, v):
            gvk = {"group": g, "version": v, "kind": rt.kind}
            base = f"/{gv_path(g, v)}/" + ("namespaces/{namespace}/" if rt.namespaced else "") + rt.plural
            for p, ops in ((base, ("post",)), (base + "/{name}", ("patch", "put"))):
                paths[p] = {op: {"x-kubernetes-group-version-kind": gvk, "parameters": [param],
                                 "responses": {"200": {"description": "OK"}}} for op in ops}
            schemas[f"{g or 'core'}.{v}.{rt.kind}"] = {"type": "object", "x-kubernetes-group-version-kind": [gvk],
                                                       "x-kubernetes-preserve-unknown-fields": True}
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes (kubectl-lws sandbox)", "version": "v1.36.2"},
               "paths": paths, "components": {"schemas": schemas}}
        return self._json(doc)

    @staticmethod
    def _group_doc(group: str, versions: list[str]) -> dict:
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def _served(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in RESOURCES.values() if rt.group == group and is_served(rt, self.sandbox.addons) and
                (rt.version == version or version in EXTRA_GROUP_VERSIONS.get(group, ()))]

    def _resource_list(self, group: str, version: str) -> dict:
        resources: list[dict] = []
        for rt in sorted(self._served(group, version), key=lambda r: r.plural):
            entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                                     "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            for sub in rt.subresources:
                g, v, kind, verbs = _SUBRESOURCE_INFO.get(sub, (None, None, None, ["get"]))
                se: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced}
                if g:
                    se["group"], se["version"] = g, v
                se["kind"] = kind or rt.kind
                se["verbs"] = verbs
                resources.append(se)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    def _aggregated(self, group_names: list[str], accept: str) -> web.Response:
        all_groups = groups(self.sandbox.addons)
        items = []
        for g in group_names:
            versions = []
            for v in all_groups[g]:
                res = []
                for rt in sorted(self._served(g, v), key=lambda r: r.plural):
                    kind_group = rt.group if rt.custom else ""
                    kind_version = rt.version if rt.custom else ""
                    e: dict[str, Any] = {"resource": rt.plural, "responseKind": {"group": kind_group,
                                         "version": kind_version, "kind": rt.kind},
                                         "scope": "Namespaced" if rt.namespaced else "Cluster",
                                         "singularResource": rt.singular, "verbs": list(rt.verbs)}
                    if rt.short_names:
                        e["shortNames"] = list(rt.short_names)
                    if rt.categories:
                        e["categories"] = list(rt.categories)
                    subs = []
                    for sub in rt.subresources:
                        sg, sv, kind, verbs = _SUBRESOURCE_INFO.get(sub, (None, None, None, ["get"]))
                        subs.append({"subresource": sub, "responseKind": {
                            "group": sg if sg is not None else kind_group,
                            "version": sv if sv is not None else kind_version, "kind": kind or rt.kind},
                            "verbs": verbs})
                    if subs:
                        e["subresources"] = subs
                    res.append(e)
                versions.append({"version": v, "resources": res, "freshness": "Current"})
            items.append({"metadata": {"name": g} if g else {}, "versions": versions})
        body = {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
                "items": items}
        return web.Response(body=json_bytes(body), headers={
            "Content-Type": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})

    @staticmethod
    def _json(obj: Any, status: int = 200, *, sort_keys: bool = False) -> web.Response:
        return web.Response(status=status, body=json_bytes(obj, sort_keys=sort_keys), content_type=JSON)

    # ---------------------------------------------------------------------------------- routing
    def _route(self, parts: list[str]) -> Route | None:
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 4:
                return None
            group, version, rest = parts[1], parts[2], parts[3:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            rt3 = lookup(group, version, rest[2], self.sandbox.addons)
            if rt3 is not None and rt3.namespaced:
                namespace, rest = rest[1], rest[2:]
        if len(rest) > 3 and rest[2] == "proxy" and rest[0] == "pods" and namespace is not None:
            rt = lookup(group, version, "pods")  # pods/NAME[:PORT]/proxy/PATH...
            return Route(rt, group, version, namespace, rest[1], "proxy", "/" + "/".join(rest[3:])) if rt else None
        if not rest or len(rest) > 3:
            return None
        rt = lookup(group, version, rest[0], self.sandbox.addons)
        if rt is None:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            return None
        if rt.namespaced and namespace is None and name is not None:
            return None
        if not rt.namespaced and namespace is not None:
            return None
        return Route(rt, group, version, namespace, name, sub)

    @staticmethod
    def _verb(request: web.Request, route: Route) -> str | None:
        m = request.method
        q = request.query
        if route.sub == "exec":
            # A WebSocket exec is a GET, but kube (1.31+, AuthorizePodWebsocketUpgradeCreatePermission)
            # authorizes it as `create` on pods/exec, like the POST: read-only users cannot exec.
            return "create" if m in ("POST", "GET") else None
        if route.sub in ("binding", "eviction"):
            return "create" if m == "POST" else None
        if route.sub == "log":
            return "get" if m == "GET" else None
        if route.sub == "proxy":  # kube authorizes a proxied request by its method
            return {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete"}.get(m)
        if route.name is None:
            if m == "GET":
                return "watch" if q.get("watch") in ("true", "1") else "list"
            return {"POST": "create", "DELETE": "deletecollection"}.get(m)
        return {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(m)

    # --------------------------------------------------------------------------------- verbs
    async def _serve(self, request: web.Request, route: Route, verb: str) -> web.StreamResponse:
        sub = route.sub
        if sub == "log":
            return await self._log(request, route)
        if sub == "exec":
            return await self._exec(request, route)
        if sub == "proxy":
            return await self._proxy(request, route)
        if sub == "binding":
            return await self._binding(request, route)
        if sub == "eviction":
            return await self._eviction(request, route)
        if sub == "scale":
            return await self._scale(request, route, verb)
        if sub == "pendingworkloads":
            return self._json(kueue_api.pending_workloads(self.store, route, request.query))
        if verb == "list":
            return self._list(request, route)
        if verb == "watch":
            return await self._watch(request, route)
        if verb == "get" and "as=Table" in request.headers.get("Accept", ""):
            obj = self._present(route.rt, self._get_or_404(route))
            body = tables.table(route.rt.key, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                include_object=request.query.get("includeObject", "Metadata"))
            return web.Response(body=json_bytes(body), content_type=JSON)
        if verb == "get":
            if route.rt.key == EVENTS_V1:
                return self._object_response(route.rt, self._present(route.rt, self._get_or_404(route)),
                                             cached=False)
            if kueue_api.converts(route):
                return self._object_response(route.rt, kueue_api.to_served(route, self._get_or_404(route)),
                                             cached=False)
            return self._object_response(route.rt, self._get_or_404(route))
        if route.rt.key == EVENTS_V1 and verb in ("update", "patch"):
            raise errors.method_not_allowed("the sandbox serves events.k8s.io/v1 Events read-mostly: create, get, "
                                            "list, watch, delete")
        if verb in ("create", "update", "patch"):
            collected: list[str] = []
            token = errors.ADMISSION_WARNINGS.set(collected)
            try:
                resp = await (self._create(request, route) if verb == "create" else
                              self._update(request, route, verb))
            finally:
                errors.ADMISSION_WARNINGS.reset(token)
            for text in collected:  # kube's warning header (RFC 7234 299), as kubectl prints it: "Warning: ..."
                resp.headers.add("Warning", '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
            return resp
        if verb == "delete":
            return await self._delete(request, route)
        if verb == "deletecollection":
            return await self._delete_collection(request, route)
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")

    # events.k8s.io/v1 Events are a view of the stored core/v1 Events (as in kube, one storage) ---------
    @staticmethod
    def _source(rt: ResourceType) -> str:
        return "events" if rt.key == EVENTS_V1 else rt.key

    @staticmethod
    def _present(rt: ResourceType, obj: dict) -> dict:
        return core_event_to_v1(obj) if rt.key == EVENTS_V1 else obj

    def _encode(self, rt: ResourceType, obj: dict) -> bytes:
        if rt.key == EVENTS_V1:
            return json.dumps(core_event_to_v1(obj), separators=(",", ":"), ensure_ascii=False).encode()
        return self.store.encoded(obj, sort_keys=rt.custom)

    @staticmethod
    def _field_selector(rt: ResourceType, selector: str | None) -> str | None:
        """Validate against the served resource's field labels; translate view names to storage names."""
        parse_field_selector(selector, rt.field_labels)
        if rt.key != EVENTS_V1 or not selector:
            return selector
        for new, old in (("regarding.", "involvedObject."), ("reportingController", "reportingComponent")):
            selector = selector.replace(new, old)
        return selector

    def _get_or_404(self, route: Route) -> dict:
        obj = self.store.get(self._source(route.rt), route.namespace, route.name or "")
        if obj is None:
            raise errors.not_found(route.rt.plural, route.name or "", route.rt.group)
        return obj

    def _object_response(self, rt: ResourceType, obj: dict, status: int = 200, *, cached: bool = True
                         ) -> web.Response:
        if cached:
            body = self.store.encoded(obj, sort_keys=rt.custom) + b"\n"
        else:
            body = json_bytes(obj, sort_keys=rt.custom)
        return web.Response(status=status, body=body, content_type=JSON)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        ct = request.headers.get("Content-Type", JSON)
        if "protobuf" in ct:
            from kubectl_lws.sandbox import kubeproto

            try:
                return kubeproto.decode(raw)
            except kubeproto.ProtobufError as e:
                if e.unsupported:
                    raise errors.unsupported_media_type(str(e)) from None
                raise errors.bad_request(f"error decoding request body: {e}") from None
        try:
            if "yaml" in ct:
                import yaml
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, Exception) as e:  # noqa: BLE001
            raise errors.bad_request(f"error decoding request body: {e}") from None

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        return "All" in request.query.getall("dryRun", [])

    # LIST ----------------------------------------------------------------------------------------
    def _list(self, request: web.Request, route: Route) -> web.Response:
        rt, q = route.rt, request.query
        label_sel, field_sel = q.get("labelSelector"), q.get("fieldSelector")
        field_sel_src = self._field_selector(rt, field_sel)
        rv = self.store.resource_version
        token = q.get("continue")
        start = None
        if token:
            rv, start = _continue_decode(token)
            if rv < self.store.oldest_rv():
                # etcd compacted past the token's revision (kube's wording, 410 Expired)
                raise errors.gone("The provided continue parameter is too old to display a consistent list "
                                  "result. You can start a new list without the continue parameter, or use "
                                  "the continue token in this response to retrieve the remainder of the "
                                  "results. Continuing with the provided token results in an inconsistent "
                                  "list - objects that were created, modified, or deleted between the time "
                                  "the first chunk was returned and now may show up in the list.")
        limit = int(q.get("limit") or 0)
        objs, unread = self.store.page(self._source(rt), route.namespace, label_sel, field_sel_src,
                                       after=start, limit=max(limit, 0))
        # etcd pages over keys, not matches: a token is handed out while unread keys remain, even if none
        # of them match (golden pagination page 7 is empty).
        cont = ""
        if limit > 0 and len(objs) == limit and unread:
            cont = _continue_encode(rv, self._sort_key(route, objs[-1]))
        remaining: int | None = unread if cont else None
        list_meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if cont:
            list_meta["continue"] = cont
            if not label_sel and not field_sel:
                list_meta["remainingItemCount"] = remaining
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept:
            body = tables.table(rt.key, [self._present(rt, o) for o in objs], list_meta, include_object=q.get("includeObject", "Metadata"))
            return web.Response(body=json_bytes(body), content_type=JSON)
        if rt.custom:
            meta = {"continue": cont, **({"remainingItemCount": remaining} if cont and remaining is not None
                                         and not label_sel and not field_sel else {}),
                    "resourceVersion": str(rv)}
            head = (b'{"apiVersion":"' + f"{route.group}/{route.version}".encode() + b'","items":[')
            if kueue_api.converts(route):
                items = b",".join(json_bytes(kueue_api.to_served(route, o), sort_keys=True) for o in objs)
            else:
                items = b",".join(self.store.encoded(o, sort_keys=True) for o in objs)
            tail = (b'],"kind":"' + rt.list_kind.encode() + b'","metadata":'
                    + json.dumps(meta, separators=(",", ":"), sort_keys=True).encode() + b"}\n")
            return web.Response(body=head + items + tail, content_type=JSON)
        prefix = b'{"kind":"' + rt.kind.encode() + b'","apiVersion":"' + rt.group_version.encode() + b'",'
        chunks = []
        for o in objs:
            enc = self._encode(rt, o)
            chunks.append(b"{" + enc[len(prefix):] if enc.startswith(prefix) else enc)
        head = (b'{"kind":"' + rt.list_kind.encode() + b'","apiVersion":"' + rt.group_version.encode()
                + b'","metadata":' + json.dumps(list_meta, separators=(",", ":")).encode() + b',"items":[')
        return web.Response(body=head + b",".join(chunks) + b"]}\n", content_type=JSON)

    @staticmethod
    def _sort_key(route: Route, obj: dict) -> str:
        meta = obj["metadata"]
        if route.rt.namespaced and not route.namespace:
            return f"/{meta.get('namespace', '')}/{meta['name']}"
        return f"/{meta['name']}"

    # WATCH ---------------------------------------------------------------------------------------
    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        rt, q = route.rt, request.query
        lmatch = label_matcher(q.get("labelSelector"))
        source = self._source(rt)
        field_sel = self._field_selector(rt, q.get("fieldSelector"))
        fmatch = field_matcher(field_sel, RESOURCES[source].field_labels)
        ns = route.namespace
        as_table = "as=Table" in request.headers.get("Accept", "")
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        send_initial = q.get("sendInitialEvents") in ("true", "1")
        rv_param = q.get("resourceVersion", "")

        def matches(obj: dict | None) -> bool:
            if obj is None:
                return False
            if ns and obj["metadata"].get("namespace") != ns:
                return False
            if lmatch is not None and not lmatch(obj["metadata"].get("labels") or {}):
                return False
            return fmatch is None or fmatch(obj)

        queue: asyncio.Queue[tuple[str, dict] | None] = asyncio.Queue()

        def on_change(type_: str, resource: str, obj: dict, old: dict | None) -> None:
            if resource != source:
                return
            now_m, old_m = matches(obj), matches(old)
            if type_ == "MODIFIED":
                if now_m and not old_m:
                    type_ = "ADDED"
                elif old_m and not now_m:
                    type_ = "DELETED"
                elif not now_m:
                    return
            elif not now_m:
                return
            queue.put_nowait((type_, obj))

        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        initial: list[tuple[str, dict]] = []
        too_old: ApiError | None = None
        unsubscribe = self.store.subscribe(on_change)
        expired: list[bool] = []

        def expire() -> None:  # fault break-streams mode=expire: the watch cache dropped this version
            expired.append(True)
            queue.put_nowait(None)
        untrack = self._track_stream("watch", request, expire)
        try:
            if not rv_param or rv_param == "0" or send_initial:
                for o in self.store.list(source, ns, q.get("labelSelector"), field_sel):
                    initial.append(("ADDED", o))
            else:
                try:
                    rv = int(rv_param)
                except ValueError:
                    raise errors.bad_request(f"invalid resource version: {rv_param}") from None
                if rv < self.store.oldest_rv():
                    too_old = errors.gone(f"too old resource version: {rv} ({self.store.oldest_rv() + 1})")
                else:
                    for ev in self.store.events_since(rv):
                        if ev.resource == source and matches(ev.obj):
                            initial.append((ev.type, ev.obj))
            start_rv = self.store.resource_version
            await resp.prepare(request)
            first = [True]

            async def send(type_: str, obj: dict) -> None:
                if as_table and type_ != "ERROR" and type_ != "BOOKMARK":
                    t = tables.table(rt.key, [self._present(rt, obj)], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                     include_object=q.get("includeObject", "Metadata"), with_columns=first[0])
                    first[0] = False
                    payload = json.dumps(t, separators=(",", ":")).encode()
                elif type_ in ("ERROR", "BOOKMARK"):
                    payload = json.dumps(obj, separators=(",", ":")).encode()
                elif kueue_api.converts(route):
                    payload = json_bytes(kueue_api.to_served(route, obj), sort_keys=True)
                else:
                    payload = self._encode(rt, obj)
                await resp.write(b'{"type":"' + type_.encode() + b'","object":' + payload + b"}\n")

            if too_old is not None:
                await send("ERROR", too_old.status())
                return resp
            for type_, obj in initial:
                await send(type_, obj)
            if send_initial and bookmarks:
                await send("BOOKMARK", self._bookmark(rt, start_rv, initial_end=True))
            deadline = time.monotonic() + timeout
            last_sent = time.monotonic()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=min(left, 1.0))
                except asyncio.TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    if bookmarks and time.monotonic() - last_sent >= BOOKMARK_INTERVAL:
                        await send("BOOKMARK", self._bookmark(rt, self.store.resource_version))
                        last_sent = time.monotonic()
                    continue
                last_sent = time.monotonic()
                if item is None:
                    break
                await send(*item)
            if expired:
                await send("ERROR", errors.gone("too old resource version: the watch was expired by the "
                                                "sandbox fault break-streams").status())
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            untrack()
            unsubscribe()
        return resp

    @staticmethod
    def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> dict:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj: dict[str, Any] = {"kind": rt.kind, "apiVersion": rt.group_version, "metadata": meta}
        if rt.key == "pods":
            obj["spec"], obj["status"] = {"containers": None}, {}
        return obj

    # CREATE / UPDATE / PATCH -----------------------------------------------------------------------
    def _check_namespace(self, route: Route) -> None:
        if route.rt.namespaced and self.store.get("namespaces", None, route.namespace or "") is None:
            raise errors.not_found("namespaces", route.namespace or "")

    def _validate_name(self, rt: ResourceType, obj: dict) -> None:
        name = obj["metadata"].get("name") or ""
        if name and not _DNS1123_SUBDOMAIN.match(name) and not rt.custom:
            raise errors.invalid(rt.kind, name, [errors.field_invalid("metadata.name", name, _SUBDOMAIN_MSG)],
                                 rt.group)

    async def _create(self, request: web.Request, route: Route) -> web.Response:
        rt = route.rt
        body = await self._body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        meta = body.setdefault("metadata", {})
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != route.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                         "the request")
            meta["namespace"] = route.namespace
            self._check_namespace(route)
        self._validate_name(rt, body)
        for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(k, None)
        if rt.key == "namespaces" and meta.get("name"):
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            body.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            body["status"] = {"phase": "Active"}
        if rt.key == "pods":
            body["status"] = {"phase": "Pending", "qosClass": body.get("status", {}).get("qosClass", "BestEffort")}
        elif rt.key == "secrets":
            body.setdefault("type", "Opaque")  # kube's default for a Secret without a type
        elif "status" in rt.subresources and rt.custom:
            body.pop("status", None)
        body = kueue_api.to_storage(route, body)
        body = self.admit("CREATE", rt.key, body, None)
        if rt.key == EVENTS_V1:
            obj = self.store.create("events", v1_event_to_core(body), dry_run=self._dry_run(request))
            return self._object_response(rt, core_event_to_v1(obj), 201, cached=False)
        obj = self.store.create(rt.key, body, dry_run=self._dry_run(request))
        if kueue_api.converts(route):
            return self._object_response(rt, kueue_api.to_served(route, obj), 201, cached=False)
        return self._object_response(rt, obj, 201, cached=not self._dry_run(request))

    async def _update(self, request: web.Request, route: Route, verb: str) -> web.Response:
        rt, sub = route.rt, route.sub
        old = self._get_or_404(route) if verb == "patch" else self.store.get(rt.key, route.namespace, route.name or "")
        body = await self._body(request)
        if verb == "patch":
            ct = request.headers.get("Content-Type", "")
            if "apply-patch" in ct:
                raise errors.unsupported_media_type(
                    "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json")
            new = patching.apply_patch(old, body, ct, custom=rt.custom)
            expect_rv = (new.get("metadata") or {}).get("resourceVersion")
            if expect_rv == old["metadata"]["resourceVersion"]:
                expect_rv = None
        else:
            if old is None:
                raise errors.not_found(rt.plural, route.name or "", rt.group)
            if not isinstance(body, dict):
                raise errors.bad_request("the body of the request was in an unknown format")
            new = body
            expect_rv = (new.get("metadata") or {}).get("resourceVersion") or None
            if (new.get("metadata") or {}).get("name") not in (None, route.name):
                raise errors.bad_request("the name of the object does not match the name on the URL")
        if not isinstance(new, dict):
            raise patching.invalid_patch()
        new = kueue_api.to_storage(route, new)
        meta = new.setdefault("metadata", {})
        meta["name"] = route.name
        if rt.namespaced:
            meta["namespace"] = route.namespace
        if expect_rv is not None and expect_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, route.name or "", rt.group)
        if sub is None and "status" in rt.subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if sub is None:
            new = self.admit("UPDATE", rt.key, new, old)
        dry = self._dry_run(request)
        obj = self.store.update(rt.key, new, subresource=sub, dry_run=dry)
        if kueue_api.converts(route):
            return self._object_response(rt, kueue_api.to_served(route, obj), cached=False)
        return self._object_response(rt, obj, cached=not dry and self.store.get(rt.key, route.namespace,
                                                                                route.name or "") is obj)

    # SCALE ---------------------------------------------------------------------------------------
    def _scale_of(self, obj: dict) -> dict:
        status = obj.get("status") or {}
        selector = status.get("hpaPodSelector") or status.get("selector")
        if selector is None and obj.get("kind") == "StatefulSet":
            from .selectors import selector_string
            selector = selector_string((obj.get("spec") or {}).get("selector"))
        meta = obj["metadata"]
        scale_status: dict[str, Any] = {"replicas": int(status.get("replicas") or 0)}
        if selector:
            scale_status["selector"] = selector
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta["uid"],
                             "resourceVersion": meta["resourceVersion"],
                             "creationTimestamp": meta["creationTimestamp"]},
                "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 1))}, "status": scale_status}

    async def _scale(self, request: web.Request, route: Route, verb: str) -> web.Response:
        rt = route.rt
        obj = self._get_or_404(route)
        scale = self._scale_of(obj)
        if verb == "get":
            return self._json(scale)
        body = await self._body(request)
        if verb == "patch":
            new_scale = patching.apply_patch(scale, body, request.headers.get("Content-Type", ""), custom=False)
        else:
            new_scale = body if isinstance(body, dict) else {}
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, route.name or "", rt.group)
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise errors.bad_request("spec.replicas must be an integer")
        if replicas < 0:
            if rt.custom:
                raise errors.invalid(rt.kind, route.name or "", [
                    errors.field_invalid("spec.replicas", replicas,
                                         "spec.replicas in body should be greater than or equal to 0"),
                    errors.field_invalid(".spec.replicas", replicas, "should be a non-negative integer")], rt.group)
            raise errors.invalid("Scale", route.name or "", [errors.field_invalid(
                "spec.replicas", replicas, "must be greater than or equal to 0")], "autoscaling")
        new = json.loads(json.dumps(obj))
        new.setdefault("spec", {})["replicas"] = replicas
        dry = self._dry_run(request)
        stored = self.store.update(rt.key, new, dry_run=dry)
        return self._json(self._scale_of(stored))

    # DELETE --------------------------------------------------------------------------------------
    async def _delete_options(self, request: web.Request) -> dict:
        opts: dict[str, Any] = {}
        body = await self._body(request)
        if isinstance(body, dict):
            opts.update(body)
        q = request.query
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "gracePeriodSeconds" in q:
            opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        if q.get("orphanDependents") in ("true", "false") and "propagationPolicy" not in opts:
            opts["propagationPolicy"] = "Orphan" if q["orphanDependents"] == "true" else "Background"
        if body and isinstance(body, dict) and body.get("orphanDependents") is not None \
                and "propagationPolicy" not in body:
            opts["propagationPolicy"] = "Orphan" if body["orphanDependents"] else "Background"
        pol = opts.get("propagationPolicy")
        if pol is not None and pol not in ("Foreground", "Background", "Orphan"):
            raise errors.invalid("DeleteOptions", "", [{"reason": "FieldValueNotSupported",
                                  "message": f'Unsupported value: "{pol}": supported values: "Foreground", '
                                             f'"Background", "Orphan"', "field": "propagationPolicy"}])
        return opts

    def _do_delete(self, rt: ResourceType, namespace: str | None, name: str, opts: dict, dry: bool) -> dict:
        return self.store.delete(self._source(rt), namespace, name, propagation=opts.get("propagationPolicy"),
                                 grace_seconds=opts.get("gracePeriodSeconds"),
                                 preconditions=opts.get("preconditions"), dry_run=dry)

    async def _delete(self, request: web.Request, route: Route) -> web.Response:
        rt = route.rt
        self._get_or_404(route)
        opts = await self._delete_options(request)
        # dryRun may come in the query or in the DeleteOptions body; the apiserver honours both.
        dry = self._dry_run(request) or "All" in (opts.get("dryRun") or [])
        if rt.key == "namespaces" and not dry:
            # The namespace controller's job, done at once: everything in the namespace goes first.
            for key, other in RESOURCES.items():
                if other.namespaced and key != "events.events.k8s.io":
                    for obj in list(self.store.list(key, route.name)):
                        self.store.remove(key, route.name, obj["metadata"]["name"])
        result = self._do_delete(rt, route.namespace, route.name or "", opts, dry)
        still = self.store.get(self._source(rt), route.namespace, route.name or "")
        if still is not None or rt.key == "pods" or rt.custom:
            return self._object_response(rt, result, cached=False)
        details: dict[str, Any] = {"name": route.name}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["uid"] = result["metadata"].get("uid")
        return self._json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                           "details": details})

    async def _delete_collection(self, request: web.Request, route: Route) -> web.Response:
        rt, q = route.rt, request.query
        opts = await self._delete_options(request)
        dry = self._dry_run(request)
        objs = list(self.store.list(self._source(rt), route.namespace, q.get("labelSelector"),
                                    self._field_selector(rt, q.get("fieldSelector"))))
        out = []
        for o in objs:
            try:
                out.append(self._do_delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"], opts, dry))
            except ApiError as e:
                if e.code != 404:
                    raise
        body = {"kind": rt.list_kind, "apiVersion": rt.group_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": out}
        return self._json(body, sort_keys=rt.custom)

    # PODS: binding, eviction, log, exec ---------------------------------------------------------------
    async def _binding(self, request: web.Request, route: Route) -> web.Response:
        pod = self._get_or_404(route)
        body = await self._body(request) or {}
        node = ((body.get("target") or {}).get("name")) or ""
        # kube wraps these as a Conflict on the pods/binding resource (BindingREST.assignPod)
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods/binding", route.name or "", "",
                                  f"pod {route.name} is being deleted, cannot be assigned to a host")
        if (pod.get("spec") or {}).get("nodeName"):
            raise errors.conflict("pods/binding", route.name or "", "",
                                  f"pod {route.name} is already assigned to node "
                                  f"\"{pod['spec']['nodeName']}\"")
        new = json.loads(json.dumps(pod))
        new["spec"]["nodeName"] = node
        conds = [c for c in (new.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now_iso()})
        new["status"]["conditions"] = conds
        if not self._dry_run(request):
            self.store.update("pods", new, subresource="binding")
        return self._json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                          201)

    async def _eviction(self, request: web.Request, route: Route) -> web.Response:
        self._get_or_404(route)
        body = await self._body(request) or {}
        if (body.get("metadata") or {}).get("name") not in (None, route.name):
            raise errors.bad_request("name in URL does not match name in Eviction object")
        opts = body.get("deleteOptions") or {}
        if not self._dry_run(request):
            self._do_delete(route.rt, route.namespace, route.name or "", opts, False)
        return self._json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                          201)

    def _pod_container(self, route: Route, container: str | None) -> tuple[dict, str]:
        pod = self._get_or_404(route)
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        all_names = names + [c.get("name") for c in spec.get("initContainers") or []] + \
            [c.get("name") for c in spec.get("ephemeralContainers") or []]
        if not container:
            if len(names) != 1:
                choices = " ".join(n for n in names)
                raise errors.bad_request(f"a container name must be specified for pod {route.name}, choose one of: "
                                         f"[{choices}]")
            container = names[0]
        if container not in all_names:
            raise errors.bad_request(f"container {container} is not valid for pod {route.name}")
        return pod, container

    async def _log(self, request: web.Request, route: Route) -> web.StreamResponse:
        pod, container = self._pod_container(route, request.query.get("container"))
        if not (pod.get("spec") or {}).get("nodeName"):
            return web.Response(status=204)
        runtime = getattr(self.sandbox, "runtime", None)
        if runtime is None:
            raise ApiError(503, "ServiceUnavailable", "the sandbox runtime (logs/exec) is not installed")
        untrack = self._track_stream("log", request)
        try:
            return await runtime.handle_log(request, pod, container)
        finally:
            untrack()

    async def _exec(self, request: web.Request, route: Route) -> web.StreamResponse:
        pod, container = self._pod_container(route, request.query.get("container"))
        if not (pod.get("spec") or {}).get("nodeName"):
            raise errors.bad_request(f"pod {route.name} does not have a host assigned")
        runtime = getattr(self.sandbox, "runtime", None)
        if runtime is None:
            raise ApiError(503, "ServiceUnavailable", "the sandbox runtime (logs/exec) is not installed")
        untrack = self._track_stream("exec", request)
        try:
            if (route.namespace or "", route.name or "") in self.stalled_exec:
                return await self._stalled_exec(request)
            return await runtime.handle_exec(request, pod, container, request.query.getall("command", []))
        finally:
            untrack()

    async def _proxy(self, request: web.Request, route: Route) -> web.StreamResponse:
        """pods/proxy as kube-apiserver serves it (pod.ResourceLocation, proxy/transport.go): the id is
        ``name``, ``name:port`` or ``scheme:name:port``; no port means the first declared containerPort; a pod
        without an IP is 400 "address not allowed"; a port where nothing listens is 503 "error trying to reach
        service: dial tcp IP:PORT: connect: connection refused"; whatever the pod answers passes through."""
        ident = route.name or ""
        parts = ident.split(":")
        if len(parts) == 1:
            name, port = parts[0], ""
        elif len(parts) == 2:
            name, port = parts
        elif len(parts) == 3 and parts[0] in ("http", "https"):
            name, port = parts[1], parts[2]
        else:
            raise errors.bad_request(f'invalid pod request "{ident}"')
        pod = self.store.get("pods", route.namespace, name)
        if pod is None:
            raise errors.not_found("pods", name)
        if not port:
            port = next((str(p.get("containerPort")) for c in (pod.get("spec") or {}).get("containers") or []
                         for p in c.get("ports") or [] if p.get("containerPort")), "80")
        ip = (pod.get("status") or {}).get("podIP") or ""
        if not ip or ip.startswith("127.") or ip == "0.0.0.0":
            raise errors.bad_request("address not allowed")
        if not port.isdigit():
            raise errors.bad_request(f'invalid pod request "{ident}"')
        from .runtime import serving  # noqa: PLC0415 (in-process servers: no runtime process needed)

        try:
            return await serving.handle(pod, int(port), route.path or "/")
        except serving.Refused:
            raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: dial tcp {ip}:{port}: "
                           "connect: connection refused") from None

    async def _stalled_exec(self, request: web.Request) -> web.StreamResponse:
        """Fault stall-exec: the stream opens (101) and then nothing ever comes, as with a kubelet or a
        node that hangs; it ends only when the client goes away (or break-streams cuts it)."""
        from .runtime.exec import choose_protocol  # noqa: PLC0415
        proto = choose_protocol(request.headers.get("Sec-WebSocket-Protocol"))
        ws = web.WebSocketResponse(protocols=(proto,) if proto else ())
        await ws.prepare(request)
        async for _msg in ws:  # stdin is swallowed; no output, no status
            pass
        return ws

    async def _access_review(self, request: web.Request, entry: dict) -> web.Response:
        """SelfSubjectAccessReview answered from the caller's token rule set (201, as kube does)."""
        body = await self._body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        attrs = (body.get("spec") or {}).get("resourceAttributes")
        if not isinstance(attrs, dict):
            raise errors.bad_request("spec.resourceAttributes is required (nonResourceAttributes are not "
                                     "supported by the sandbox)")
        resource, sub = attrs.get("resource") or "", attrs.get("subresource") or None
        probe = ResourceType(resource, "", attrs.get("group") or "", attrs.get("version") or "")
        allowed = self.allowed(entry, attrs.get("verb") or "", probe, attrs.get("namespace") or None, sub,
                               attrs.get("name") or None)
        # RBAC's answer carries no reason either way (golden http/rbac/201-selfsubjectaccessreview-*)
        out = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
               "metadata": {"creationTimestamp": None}, "spec": {"resourceAttributes": attrs},
               "status": {"allowed": allowed}}
        return self._json(out, 201)

    async def _rules_review(self, request: web.Request, entry: dict) -> web.Response:
        """SelfSubjectRulesReview (``kubectl auth can-i --list``): the rules that apply in spec.namespace."""
        body = await self._body(request)
        namespace = ((body or {}).get("spec") or {}).get("namespace") if isinstance(body, dict) else None
        if entry.get("rules") is None:
            resource_rules = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
            non_resource = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
        else:
            user = entry.get("user", "")
            rules = list(entry["rules"]) + rbac.BASIC_USER_RULES + rbac.bound_rules(
                self.store, user, rbac.groups_of(user, entry.get("groups") or ()))
            resource_rules = []
            for rule in rules:
                scope = rule.get("namespaces")
                if scope is not None and "*" not in scope and namespace not in scope:
                    continue
                out_rule = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or ["*"]),
                            "resources": list(rule.get("resources") or [])}
                if rule.get("resourceNames"):
                    out_rule["resourceNames"] = list(rule["resourceNames"])
                resource_rules.append(out_rule)
            non_resource = [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                                                                  "/livez", "/openapi", "/openapi/*", "/readyz",
                                                                  "/version", "/version/"]}]
        return self._json({"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                           "metadata": {}, "spec": {},
                           "status": {"resourceRules": resource_rules, "nonResourceRules": non_resource,
                                      "incomplete": False}}, 201)

    async def _self_review(self, request: web.Request, entry: dict) -> web.Response:
        """SelfSubjectReview (``kubectl auth whoami``): who the server takes the caller for."""
        await self._body(request)
        user = entry.get("user", "")
        groups = list(entry.get("groups") or [])
        if entry.get("rules") is None and "system:masters" not in groups:
            groups.insert(0, "system:masters")
        return self._json({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                           "metadata": {"creationTimestamp": None},
                           "status": {"userInfo": {"username": user, "groups": rbac.groups_of(user, groups)}}}, 201)

    # ADMIN ---------------------------------------------------------------------------------------
    async def _admin(self, request: web.Request) -> web.Response:
        parts = [p for p in request.path.strip("/").split("/") if p]
        if parts[:3] == ["sandbox", "v1", "requests"] and request.method == "GET":
            return self._json({"count": len(self.log.entries), "items": self.log.as_json()})
        if parts[:3] == ["sandbox", "v1", "requests"] and request.method == "DELETE":
            self.log.clear()
            return self._json({"cleared": True})
        if parts[:3] == ["sandbox", "v1", "faults"] and request.method == "GET" and len(parts) == 3:
            return self._json({"faults": sorted(self.sandbox.faults)})
        if parts[:3] == ["sandbox", "v1", "faults"] and len(parts) == 4 and request.method == "POST":
            params = await self._body(request) or {}
            if not isinstance(params, dict):
                raise errors.bad_request("fault parameters must be a JSON object")
            name = parts[3]
            if name not in self.sandbox.faults:
                raise errors.not_found("faults", name, "sandbox")
            try:
                result = self.sandbox.faults[name](**params)
                if asyncio.iscoroutine(result):
                    result = await result
            except TypeError as e:  # a missing or unknown parameter: name it without Python's wrapping
                msg = re.sub(r"^\S*\(\) ", "", str(e))
                raise errors.bad_request(f"fault {name}: {msg}") from None
            except KeyError as e:  # the pod or node the fault names does not exist
                raise ApiError(404, "NotFound", f"fault {name}: {e.args[0] if e.args else e}") from None
            except (ValueError, RuntimeError) as e:  # e.g. network faults without network namespaces
                raise errors.bad_request(f"fault {name}: {e}") from None
            return self._json({"fault": name, "result": result if _jsonable(result) else repr(result)})
        return not_found_text()


EVENTS_V1 = "events.events.k8s.io"

# core/v1 Event field -> events.k8s.io/v1 field, in the v1 serialization order.
_EVENT_FIELDS = [("eventTime", "eventTime"), ("series", "series"), ("reportingComponent", "reportingController"),
                 ("reportingInstance", "reportingInstance"), ("action", "action"), ("reason", "reason"),
                 ("involvedObject", "regarding"), ("related", "related"), ("message", "note"), ("type", "type"),
                 ("source", "deprecatedSource"), ("firstTimestamp", "deprecatedFirstTimestamp"),
                 ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount")]


def core_event_to_v1(ev: dict) -> dict:
    """A stored core/v1 Event as events.k8s.io/v1 presents it (golden objects/events-*.json)."""
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": ev.get("metadata", {})}
    for core, v1 in _EVENT_FIELDS:
        if core in ev and not (v1 == "reportingInstance" and ev[core] == ""):  # omitempty in events.k8s.io/v1
            out[v1] = ev[core]
    if "deprecatedSource" not in out:
        out["deprecatedSource"] = {}
    return out


def v1_event_to_core(ev: dict) -> dict:
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "v1", "metadata": ev.get("metadata", {})}
    for core, v1 in _EVENT_FIELDS:
        if v1 in ev:
            out[core] = ev[v1]
    out.setdefault("source", {})
    return out




def _pretty(resp: web.StreamResponse) -> web.StreamResponse:
    """kube-apiserver indents JSON for curl's User-Agent (golden README); streams are left alone."""
    if not isinstance(resp, web.Response) or resp.content_type != JSON or not resp.body:
        return resp
    try:
        data = json.loads(resp.body)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return resp
    resp.body = json_bytes(data, pretty=True)
    return resp


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False
