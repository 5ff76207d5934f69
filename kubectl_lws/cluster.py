"""The only module that talks to the Kubernetes API.

Why raw JSON: the generated client's model deserialisation is many times slower than
``json.loads`` on large pod lists, and the model layer works on plain dicts anyway. Every request
goes through ``Cluster.request`` so that errors are mapped in one place and ``-v 6`` logs (and
tests/benchmarks count) every request. The kubernetes package is imported lazily so that
``--help``, ``version`` and completion stay fast.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import quote, urlencode

from kubectl_lws import errors
from kubectl_lws.kubeconfig import (ConnectionSettings, ResolvedConfig, check_server_url, default_scheme,
                                    impersonation_headers, resolve)
from kubectl_lws.model import keys
from kubectl_lws.model import slim as slimmer
from kubectl_lws.model.keys import (DS_GROUP, DS_PLURAL, DS_VERSION, DSRS_PLURAL, LWS_GROUP, LWS_PLURAL,
                                    LWS_VERSION)

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import ApiClient

FIELD_MANAGER = "kubectl-lws"
# Pages of a LIST, as kubectl pages (--chunk-size 500): each page is reduced (``slim``) before the
# next is read, so a big LIST never sits in memory whole. A paged LIST counts as ONE list in
# ``Cluster.list_calls`` (the request budget of a command), however many pages it took.
PAGE_SIZE = 500
# A continue token that expired (410) restarts the LIST from the beginning, at most this often.
MAX_RELISTS = 3

# kind -> (api prefix, plural, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "leaderworkersets": (f"/apis/{LWS_GROUP}/{LWS_VERSION}", LWS_PLURAL, True),
    "disaggregatedsets": (f"/apis/{DS_GROUP}/{DS_VERSION}", DS_PLURAL, True),
    "disaggregatedsetrolescalers": (f"/apis/{DS_GROUP}/{DS_VERSION}", DSRS_PLURAL, True),
    "pods": ("/api/v1", "pods", True),
    "nodes": ("/api/v1", "nodes", False),
    "namespaces": ("/api/v1", "namespaces", False),
    "services": ("/api/v1", "services", True),
    "events": ("/api/v1", "events", True),
    "statefulsets": ("/apis/apps/v1", "statefulsets", True),
    "controllerrevisions": ("/apis/apps/v1", "controllerrevisions", True),
    "deployments": ("/apis/apps/v1", "deployments", True),
    "horizontalpodautoscalers": ("/apis/autoscaling/v2", "horizontalpodautoscalers", True),
    "customresourcedefinitions": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    # doctor and report (an LWS install and the events.k8s.io view of events)
    "events.k8s.io": ("/apis/events.k8s.io/v1", "events", True),
    "leases": ("/apis/coordination.k8s.io/v1", "leases", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "mutatingwebhookconfigurations": ("/apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations",
                                      False),
    "validatingwebhookconfigurations": ("/apis/admissionregistration.k8s.io/v1",
                                        "validatingwebhookconfigurations", False),
    # claims from volumeClaimTemplates and the classes they name (model/admission, storage layer)
    "persistentvolumeclaims": ("/api/v1", "persistentvolumeclaims", True),
    "storageclasses": ("/apis/storage.k8s.io/v1", "storageclasses", False),
}


def resource_path(kind: str, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """URL path of a collection, object or subresource.

    The namespace and name are checked as the API server checks them (a UsageError, exit 2, before
    anything is sent) and percent-encoded anyway: a name is one path segment, never ``..`` or a query.
    """
    from kubectl_lws.names import check_name, check_namespace

    prefix, plural, namespaced = RESOURCES[kind]
    path = prefix
    if namespaced and namespace:
        path += f"/namespaces/{_segment(check_namespace(namespace))}"
    path += f"/{plural}"
    if name:
        path += f"/{_segment(check_name(name, kind.rstrip('s')))}"
    if subresource:
        path += f"/{_segment(subresource)}"
    return path


def _segment(text: str) -> str:
    return quote(text, safe="")


@dataclass
class ExecResult:
    """Outcome of a command run in a container."""

    stdout: str
    stderr: str
    exit_code: int | None  # None: the command could not be started or did not finish
    error: str = ""  # the failure message from the status channel when it was not an exit code


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): the caller must list again."""


class Cluster:
    """A connection to one cluster, built from kubectl-style settings."""

    def __init__(self, settings: ConnectionSettings, *, verbosity: int = 0,
                 log: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.verbosity = verbosity
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._resolved: ResolvedConfig | None = None
        self._client: ApiClient | None = None
        self._lock = threading.Lock()
        self.request_count = 0
        self.list_calls = 0  # LISTs as the request budget counts them (a paged LIST is one)
        # Connections kept per host; raise before the first request when many streams run at once
        # (urllib3 otherwise discards and warns about every connection beyond the pool size).
        self.max_connections = 16
        self._streams: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._light: Any = None  # LightTransport, or False once the kubernetes client is needed
        self._api_groups: dict | None = None  # GET /apis, read once per run (api_groups)
        self._impersonation: list[tuple[str, str]] | None = None

    # ---- configuration -------------------------------------------------------------------
    @property
    def resolved(self) -> ResolvedConfig:
        if self._resolved is None:
            self._resolved = resolve(self.settings)
        return self._resolved

    @property
    def namespace(self) -> str:
        """The namespace commands act in: flag, context, in-cluster file, else ``default``."""
        return self.resolved.namespace

    @property
    def client(self) -> "ApiClient":
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    @property
    def host(self) -> str:
        light = self._light_transport()
        return light.host if light else self.client.configuration.host

    def prepare_streams(self) -> None:
        """Load the streaming transport now, on the caller's thread (urllib3: ~0.1 s), so that
        streams started next open at once instead of each paying for the import in its thread."""
        light = self._light_transport()
        if light is not None:
            light.pool  # noqa: B018 — built on first access

    def close(self) -> None:
        """Release the connections this Cluster keeps (see ``LightTransport.close``)."""
        if self._light:
            self._light.close()
        if self._client is not None:
            pool = getattr(getattr(self._client, "rest_client", None), "pool_manager", None)
            if pool is not None:
                pool.clear()

    def _light_transport(self) -> Any:
        """The urllib3 transport when the credentials need no plugin (see ``transport.py``), else None."""
        if self._light is None:
            with self._lock:
                if self._light is None:
                    from kubectl_lws.transport import light_transport

                    light = None
                    if os.environ.get("KUBECTL_LWS_TRANSPORT") != "client":
                        light = light_transport(self.resolved, self.settings,
                                                max_connections=self.max_connections)
                    self._light = light or False
        return self._light or None

    def _build_client(self) -> "ApiClient":
        from kubernetes import client, config

        resolved = self.resolved
        s = self.settings
        cfg = client.Configuration()
        user_name, user = _current_user(resolved)
        try:
            if resolved.in_cluster:
                config.load_incluster_config(client_configuration=cfg)
            elif resolved.kubeconfig is not None and resolved.context_name is not None:
                if not s.token:
                    _check_exec_helper(user_name, user)
                with _client_log() as logged:
                    config.load_kube_config_from_dict(resolved.kubeconfig, context=resolved.context_name,
                                                      client_configuration=cfg, persist_config=False)
                if logged and not s.token:
                    raise errors.ConfigError(f'getting credentials for user "{user_name}" failed: {logged[-1]}',
                                             hint="check the user's exec/auth-provider entry in the kubeconfig")
        except config.ConfigException as exc:
            raise errors.ConfigError(f"invalid kubeconfig: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise errors.ConfigError(f"invalid kubeconfig: {exc}") from exc
        if s.token:
            cfg.api_key = {"authorization": f"Bearer {s.token}"}
            cfg.api_key_prefix = {}
            cfg.refresh_api_key_hook = None

        tls_flags = bool(s.certificate_authority or s.client_certificate or s.insecure_skip_tls_verify)

        def apply_flags(c: Any) -> None:
            if s.server:
                c.host = default_scheme(s.server.rstrip("/"), tls_flags)
            if s.certificate_authority:
                c.ssl_ca_cert = s.certificate_authority
            if s.client_certificate:
                c.cert_file = s.client_certificate
            if s.client_key:
                c.key_file = s.client_key
            if s.insecure_skip_tls_verify:
                c.verify_ssl = False

        apply_flags(cfg)
        hook = cfg.refresh_api_key_hook
        if hook is not None:
            # The kubeconfig loader's token hook runs before every request, copies the kubeconfig's
            # host and TLS files back onto the configuration and re-installs itself: the flags must
            # win after it, and this wrapper must stay the hook.
            def refresh(c: Any, _hook: Any = hook) -> None:
                with _client_log() as logged:  # an exec helper re-run for a fresh token
                    _hook(c)
                if logged and not s.token:
                    raise errors.ConfigError(f'getting credentials for user "{user_name}" failed: {logged[-1]}')
                apply_flags(c)
                c.refresh_api_key_hook = refresh

            cfg.refresh_api_key_hook = refresh
        if s.insecure_skip_tls_verify:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if not cfg.host:
            raise errors.ConfigError("no server found in the kubeconfig: pass --server")
        if not s.server:  # the kubeconfig's server: checked like the flag, named as the kubeconfig's
            try:
                cfg.host = default_scheme(check_server_url(cfg.host).rstrip("/"),
                                          bool(cfg.ssl_ca_cert or cfg.cert_file or not cfg.verify_ssl))
            except errors.UsageError as exc:
                raise errors.ConfigError(f"the kubeconfig's cluster server: {exc.message}") from None
        _check_tls_files(cfg, s, resolved)
        # --request-timeout bounds the whole call, as in kubectl: urllib3 must not retry a timed-out or
        # refused request (its default retries three times); a reused keep-alive connection the server
        # closed may still be retried once.
        cfg.retries = _no_timeout_retries()
        cfg.connection_pool_maxsize = max(cfg.connection_pool_maxsize or 0, self.max_connections)
        api = client.ApiClient(cfg)
        api.user_agent = f"kubectl-lws/{_version()} (python)"
        self._wrap_rest_client(api)
        return api

    @property
    def impersonation(self) -> list[tuple[str, str]]:
        """``Impersonate-*`` headers (flags over the kubeconfig user's ``as*``): every request sends them,
        exec sessions included (see ``exec_session``)."""
        if self._impersonation is None:
            self._impersonation = impersonation_headers(self.settings, _current_user(self.resolved)[1])
        return self._impersonation

    def _wrap_rest_client(self, api: "ApiClient") -> None:
        """Count and log every request; add the impersonation headers (repeated Impersonate-Group)."""
        rest = api.rest_client
        inner = rest.request
        impersonation = self.impersonation

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            headers = kwargs.get("headers")
            if impersonation:
                from urllib3 import HTTPHeaderDict

                merged = HTTPHeaderDict(headers or {})
                for header, value in impersonation:
                    merged.add(header, value)
                kwargs["headers"] = merged
            started = time.perf_counter()
            status: int | str = "ERR"
            try:
                response = inner(method, url, *args, **kwargs)
                status = getattr(response, "status", "?")
                return response
            except Exception as exc:  # logged, then mapped by the caller
                status = getattr(exc, "status", None) or type(exc).__name__
                raise
            finally:
                self._note_request(method, url, status, started)

        rest.request = request

    def _note_request(self, method: str, url: str, status: int | str, started: float) -> None:
        with self._lock:
            self.request_count += 1
        if self.verbosity >= 6:
            ms = (time.perf_counter() - started) * 1000
            path = url.split("://", 1)[-1]
            path = path[path.find("/"):] if "/" in path else "/"
            self._log(f"{method} {path} {status} {ms:.0f}ms")

    # ---- the one request primitive ---------------------------------------------------------
    def request(self, method: str, path: str, *, query: dict | list | None = None, body: Any = None,
                content_type: str = "application/json", stream: bool = False,
                timeout: float | None = None, accept: str = "application/json") -> Any:
        """Send one request; returns parsed JSON (or the raw response when ``stream``)."""
        raw = self._send(method, path, query=query, body=body, content_type=content_type, stream=stream,
                         timeout=timeout, accept=accept)
        return self._finish(raw, method, path, stream=stream)

    def _send(self, method: str, path: str, *, query: dict | list | None = None, body: Any = None,
              content_type: str = "application/json", stream: bool = False, timeout: float | None = None,
              accept: str = "application/json") -> Any:
        """Send one request and return the urllib3 response, unread (errors mapped)."""
        params = _query_list(query)
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        req_timeout = timeout if timeout is not None else self.settings.request_timeout
        light = self._light_transport()
        if light is not None:
            return self._send_light(light, method, path, params, headers, body, stream, req_timeout)
        client = self.client
        deadline = time.monotonic() + req_timeout if req_timeout else None
        try:
            method, url, headers, body, _ = client.param_serialize(
                method, path, query_params=params, header_params=headers, body=body,
                auth_settings=["BearerToken"])
            resp = client.call_api(method, url, header_params=headers, body=body,
                                   _request_timeout=req_timeout or None)
        except Exception as exc:  # noqa: BLE001 — every transport failure is mapped here
            raise self._map_error(exc, method, path) from exc
        raw = resp.response
        if deadline is not None and not stream:
            raw.lws_deadline = deadline  # _finish reads the body within it
        return raw

    def _send_light(self, light: Any, method: str, path: str, params: list, headers: dict, body: Any,
                    stream: bool, timeout: float | None) -> Any:
        """Whole responses over ``transport._Connection`` (no urllib3 import on small commands); streams over
        urllib3, whose response object the watch and log readers use."""
        target = path + ("?" + urlencode(params) if params else "")
        all_headers = {**light.auth_headers(), **headers, "User-Agent": f"kubectl-lws/{_version()} (python)"}
        impersonation = self.impersonation
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        started = time.perf_counter()
        status: int | str = "ERR"
        try:
            if stream:
                import urllib3

                merged = urllib3.HTTPHeaderDict(all_headers)
                for header, value in impersonation:
                    merged.add(header, value)
                resp = light.pool.request(method, light.host + target, body=body, headers=merged,
                                          preload_content=not stream, decode_content=False, redirect=False,
                                          retries=False,
                                          timeout=urllib3.Timeout(total=timeout) if timeout else None)
            else:
                resp = light.fetch(method, target, [*all_headers.items(), *impersonation], body, timeout or None)
            status = resp.status
            return resp
        except Exception as exc:  # noqa: BLE001 — every transport failure is mapped here
            status = type(exc).__name__
            raise self._map_error(exc, method, path) from exc
        finally:
            self._note_request(method, light.host + target, status, started)

    def _finish(self, raw: Any, method: str, path: str, *, stream: bool) -> Any:
        """Map a non-2xx status; hand back the open response (``stream``) or its parsed JSON."""
        if not 200 <= raw.status <= 299:
            try:
                data = raw.data
            finally:
                raw.release_conn()
            raise map_api_exception(raw.status, data, path)
        if stream:
            with self._lock:
                self._streams.add(raw)
            return raw
        try:
            data = _read_within(raw, getattr(raw, "lws_deadline", None))
        except Exception as exc:  # noqa: BLE001 — a read timeout or reset mid-body
            raise self._map_error(exc, method, path) from exc
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    def _map_error(self, exc: Exception, method: str, path: str) -> errors.LwsError:
        if isinstance(exc, errors.LwsError):
            return exc
        hc = sys.modules.get("http.client")
        api_exception = sys.modules.get("kubernetes.client.exceptions")
        if api_exception is not None and isinstance(exc, api_exception.ApiException):
            if not exc.status:  # the client's wrapper around SSL and WebSocket failures
                return _status_zero_error(exc, self.host, path)
            return map_api_exception(exc.status, exc.body, path)
        if _is_timeout(exc):
            return errors.RequestTimeout(f"request to {self.host} timed out ({method} {path}); "
                                         "raise --request-timeout or check the server")
        ux = sys.modules.get("urllib3.exceptions")  # only loaded when urllib3 served the request
        if isinstance(exc, OSError) or (hc and isinstance(exc, hc.HTTPException)) or \
                (ux and isinstance(exc, ux.HTTPError)):
            return errors.Unreachable(f"cannot reach the API server at {self.host}: {transport_problem(exc)}")
        if isinstance(exc, errors.LwsError):
            return exc
        return errors.LwsError(f"{method} {path} failed: {exc}")

    # ---- reads ------------------------------------------------------------------------------
    def get(self, kind: str, name: str, namespace: str | None = None) -> dict:
        return self.request("GET", resource_path(kind, namespace, name))

    def list(self, kind: str, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None, all_namespaces: bool = False,
             slim: bool | str = False) -> tuple[list[dict], str]:
        """All items (following continue tokens) and the list's resourceVersion.

        ``slim``: each page becomes slim records (``model/slim.py``) before the next page is read;
        True uses the kind's schema, a string names another (``"pods:spec"``).
        A continue token that expired mid-way (410 Gone, an etcd compaction) restarts the LIST from
        the start, like client-go's pager falling back to a full list: the pages of one answer
        must come from one snapshot.
        """
        ns = None if all_namespaces else namespace
        path = resource_path(kind, ns)
        with self._lock:
            self.list_calls += 1
        with slimmer.building_records():  # whole objects are acyclic records too
            return self._list_pages(kind, path, label_selector, field_selector, slim)

    def _list_pages(self, kind: str, path: str, label_selector: str | None, field_selector: str | None,
                    slim: bool | str) -> tuple[list[dict], str]:
        relists = 0
        items: list[dict] = []
        cont = None
        ahead: _Prefetch | None = None
        while True:
            query = {"labelSelector": label_selector, "fieldSelector": field_selector,
                     "limit": PAGE_SIZE, "continue": cont}
            try:
                if slim:
                    body = ahead.result() if ahead is not None and ahead.token == cont else \
                        self._get_bytes(path, query)
                    ahead = None
                    nxt = _peek_continue(body)
                    if nxt:
                        _page_buffers_back_to_the_system()
                        # the server builds the next page while we decode this one
                        ahead = _Prefetch(nxt, lambda q={**query, "continue": nxt}: self._get_bytes(path, q))
                    data = slimmer.decode_list(slim if isinstance(slim, str) else kind, body)
                    del body
                else:
                    data = self.request("GET", path, query=query)
            except errors.ApiError as exc:
                if ahead is not None:
                    ahead.result(swallow=True)
                    ahead = None
                if exc.code == 410 and cont and relists < MAX_RELISTS:
                    relists += 1
                    items, cont = [], None
                    continue
                raise
            if not isinstance(data, dict):
                raise errors.LwsError(f"GET {path}: the server did not answer with a list")
            items.extend(data.get("items") or [])
            del data["items"]
            meta = data.get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                return items, meta.get("resourceVersion", "")

    def _get_bytes(self, path: str, query: dict) -> bytes:
        """A GET's body, unparsed (the slim decoders parse it)."""
        raw = self._send("GET", path, query=query)
        if not 200 <= raw.status <= 299:
            self._finish(raw, "GET", path, stream=False)
        try:
            return raw.data or b"{}"
        except Exception as exc:  # noqa: BLE001 — a read timeout or reset mid-body
            raise self._map_error(exc, "GET", path) from exc

    def list_path(self, path: str, *, label_selector: str | None = None) -> list[dict]:
        """Every item of a collection given by its path (a custom resource whose version discovery
        chose); paged like ``list`` and counted as one LIST."""
        with self._lock:
            self.list_calls += 1
        return self._list_pages("", path, label_selector, None, False)[0]

    # ---- admission and gang layers (model/admission decides what; these read it) --------------------
    def api_groups(self) -> dict:
        """GET /apis (APIGroupList): which groups and versions are served. Read once per run."""
        if self._api_groups is None:
            doc = self.request("GET", "/apis")
            self._api_groups = doc if isinstance(doc, dict) else {}
        return self._api_groups

    def read_layer(self, path: str, *, label_selector: str | None = None, names: frozenset[str] = frozenset(),
                   fallback_names: tuple[str, ...] = ()) -> list[dict]:
        """One layer's objects in one LIST (``model.admission.Read``): label-selected, else kept to
        ``names``. When the LIST finds nothing and ``fallback_names`` are given (Kueue before 0.17 sets
        no job-uid label), each is read by name instead (a 404 skipped)."""
        items = [i for i in self.list_path(path, label_selector=label_selector) if isinstance(i, dict)]
        if names:
            items = [i for i in items if (i.get("metadata") or {}).get("name") in names]
        if items or not fallback_names:
            return items
        from kubectl_lws.names import check_name

        out = []
        for name in fallback_names:
            try:
                obj = self.request("GET", f"{path}/{_segment(check_name(name, 'object'))}")
            except errors.NotFound:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def pending_workloads(self, path: str, wanted: set[str], *, page: int, bound: int,
                          timeout: float | None = None) -> tuple[dict[str, dict], int, bool]:
        """Kueue's visibility API for one LocalQueue (``.../localqueues/LQ/pendingworkloads``, paged by
        ``limit``/``offset``, no name filter): the items of the ``wanted`` Workloads, how many items
        were read, and whether the queue was read to its end or to every wanted name (False: stopped
        at ``bound`` items, thousands may wait)."""
        found: dict[str, dict] = {}
        offset = 0
        while offset < bound:
            size = min(page, bound - offset)
            doc = self.request("GET", path, query={"limit": size, "offset": offset}, timeout=timeout)
            raw = doc.get("items") if isinstance(doc, dict) else None
            items = [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []
            for item in items:
                name = (item.get("metadata") or {}).get("name")
                if name in wanted:
                    found[name] = item
            offset += len(items)
            if wanted <= found.keys() or len(items) < size:
                return found, offset, True
        return found, offset, False

    def get_lws(self, name: str, namespace: str | None = None) -> dict:
        """GET one LWS; a 404 becomes the standard not-found error with close names."""
        return self._get_named("leaderworkersets", name, namespace, errors.lws_not_found)

    def get_ds(self, name: str, namespace: str | None = None) -> dict:
        """GET one DisaggregatedSet; a 404 becomes the not-found error with close names, an API this
        cluster does not serve becomes ``DsApiMissing``."""
        return self._get_named("disaggregatedsets", name, namespace, errors.ds_not_found)

    def _get_named(self, kind: str, name: str, namespace: str | None,
                   not_found: Callable[[str, str, list[str]], errors.NotFound]) -> dict:
        ns = namespace or self.namespace
        try:
            return self.get(kind, name, ns)
        except errors.NotFound as exc:
            if exc.status.get("kind") != "Status":
                raise
            try:
                existing = [i["metadata"]["name"] for i in self.list(kind, ns)[0]]
            except errors.LwsError:
                existing = []
            raise not_found(name, ns, existing) from None

    def list_ds(self, namespace: str | None = None, *, label_selector: str | None = None,
                all_namespaces: bool = False) -> list[dict]:
        return self.list("disaggregatedsets", namespace or self.namespace, label_selector=label_selector,
                         all_namespaces=all_namespaces)[0]

    def list_lws(self, namespace: str | None = None, *, label_selector: str | None = None,
                 all_namespaces: bool = False) -> list[dict]:
        return self.list("leaderworkersets", namespace or self.namespace, label_selector=label_selector,
                         all_namespaces=all_namespaces)[0]

    def list_pods(self, namespace: str | None = None, *, label_selector: str | None = None,
                  field_selector: str | None = None, all_namespaces: bool = False,
                  slim: bool | str = False) -> list[dict]:
        return self.list("pods", namespace or self.namespace, label_selector=label_selector,
                         field_selector=field_selector, all_namespaces=all_namespaces, slim=slim)[0]

    def list_nodes(self, *, slim: bool = False) -> list[dict]:
        return self.list("nodes", slim=slim)[0]

    def list_nodes_named(self, names: Iterable[str], *, slim: bool = False) -> list[dict]:
        """The nodes of these names, read by ``kubernetes.io/hostname in (...)``: the cost follows the
        pods' nodes, never the cluster's. One LIST per ``SELECTOR_CHARS`` of names; more names than
        ``MAX_SELECTED_LISTS`` LISTs hold read every node (one paged LIST) instead. A name the selector
        did not find (a node gone, or one whose hostname label is not its name) is settled by one full
        LIST, so "node gone" is never a guess."""
        wanted = set(filter(None, names))
        if not wanted:
            return []
        chunks = selector_chunks(keys.HOSTNAME_TOPOLOGY_KEY, sorted(wanted))
        if chunks is None or len(chunks) > MAX_SELECTED_LISTS:
            return [n for n in self.list_nodes(slim=slim) if n["metadata"]["name"] in wanted]
        found = [n for sel in chunks for n in self.list("nodes", label_selector=sel, slim=slim)[0]
                 if n["metadata"]["name"] in wanted]
        if wanted - {n["metadata"]["name"] for n in found}:
            return [n for n in self.list_nodes(slim=slim) if n["metadata"]["name"] in wanted]
        return found

    def list_events(self, namespace: str | None = None, *, field_selector: str | None = None,
                    limit: int | None = None, all_namespaces: bool = False) -> tuple[list[dict], dict]:
        """Events of a namespace from whichever API serves them: ``(items, info)``.

        core/v1 first: every server has it and it serves the events.k8s.io ones too (one storage, golden
        ``events/``). On 404 (not served) or 403 (RBAC names the two groups apart) events.k8s.io/v1 is
        tried with the selector's field names translated. ``limit`` reads one page only (``info
        ["truncated"]`` says if more existed); without it every page is read. Raises the first API's
        error when neither can be read.
        """
        ns = None if all_namespaces else (namespace or self.namespace)
        attempts = [("events", "v1", field_selector)]
        v1_selector = field_selector
        if v1_selector:
            v1_selector = v1_selector.replace("involvedObject.", "regarding.").replace(
                "reportingComponent", "reportingController")
        attempts.append(("events.k8s.io", "events.k8s.io/v1", v1_selector))
        first_error: errors.LwsError | None = None
        for kind, api, selector in attempts:
            try:
                if limit is None:
                    items, _ = self.list(kind, ns, field_selector=selector, all_namespaces=all_namespaces)
                    return items, {"api": api, "truncated": False}
                data = self.request("GET", resource_path(kind, ns),
                                    query={"fieldSelector": selector, "limit": limit})
                meta = data.get("metadata") or {}
                return data.get("items") or [], {"api": api, "truncated": bool(meta.get("continue"))}
            except (errors.NotFound, errors.Forbidden) as exc:
                first_error = first_error or exc
        assert first_error is not None
        raise first_error

    def server_version(self) -> dict:
        return self.request("GET", "/version")

    def access_review(self, verb: str, resource: str, *, group: str = "", namespace: str | None = None,
                      subresource: str | None = None, name: str | None = None) -> bool:
        """SelfSubjectAccessReview: may the current user do ``verb`` on ``resource``? (one POST)"""
        attrs = {"verb": verb, "resource": resource, "group": group}
        for key, value in (("namespace", namespace), ("subresource", subresource), ("name", name)):
            if value:
                attrs[key] = value
        body = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "spec": {"resourceAttributes": attrs}}
        out = self.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body)
        return bool(((out or {}).get("status") or {}).get("allowed"))

    # ---- writes -----------------------------------------------------------------------------
    def create_event(self, namespace: str, event: dict) -> dict:
        """POST a core/v1 Event (the trace a command leaves for the ones that read history)."""
        return self.request("POST", resource_path("events", namespace), body=event)

    def patch(self, kind: str, name: str, patch: Any, *, namespace: str | None = None,
              patch_type: str = "merge", subresource: str | None = None, dry_run: bool = False) -> dict:
        """Merge patch (dict) or JSON patch (list); ``dry_run`` asks the server (dryRun=All)."""
        content_type = {"merge": "application/merge-patch+json",
                        "json": "application/json-patch+json",
                        "strategic": "application/strategic-merge-patch+json"}[patch_type]
        query = {"fieldManager": FIELD_MANAGER, "dryRun": "All" if dry_run else None}
        return self.request("PATCH", resource_path(kind, namespace, name, subresource), query=query,
                            body=patch, content_type=content_type)

    def patch_lws(self, name: str, patch: Any, *, namespace: str | None = None,
                  resource_version: str | None = None, patch_type: str = "merge",
                  dry_run: bool = False) -> dict:
        """Patch an LWS; ``resource_version`` makes it conditional (409 when the object moved on)."""
        if resource_version is not None:
            if patch_type == "merge":
                patch = {**patch, "metadata": {**patch.get("metadata", {}),
                                               "resourceVersion": resource_version}}
            else:
                patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
                         *patch]
        return self.patch("leaderworkersets", name, patch, namespace=namespace or self.namespace,
                          patch_type=patch_type, dry_run=dry_run)

    def get_scale(self, name: str, namespace: str | None = None, *, kind: str = "leaderworkersets") -> dict:
        """The ``/scale`` subresource of an LWS (or of another kind that has one: a role scaler)."""
        return self.request("GET", resource_path(kind, namespace or self.namespace, name, "scale"))

    def patch_scale(self, name: str, replicas: int, *, namespace: str | None = None,
                    resource_version: str | None = None, dry_run: bool = False,
                    kind: str = "leaderworkersets") -> dict:
        patch: dict[str, Any] = {"spec": {"replicas": replicas}}
        if resource_version is not None:
            patch["metadata"] = {"resourceVersion": resource_version}
        return self.patch(kind, name, patch, namespace=namespace or self.namespace,
                          subresource="scale", dry_run=dry_run)

    def delete(self, kind: str, name: str, *, namespace: str | None = None,
               propagation: str | None = None, grace_seconds: int | None = None,
               uid: str | None = None, dry_run: bool = False) -> dict | None:
        """Delete with a propagation policy; ``uid`` makes it a precondition (never the new incarnation)."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        if uid:
            body["preconditions"] = {"uid": uid}
        if dry_run:
            body["dryRun"] = ["All"]
        # dryRun also in the query: the apiserver honours either, and a proxy or simulator may read only one.
        return self.request("DELETE", resource_path(kind, namespace or self.namespace, name), body=body,
                            query={"dryRun": "All" if dry_run else None})

    # ---- pods/proxy -------------------------------------------------------------------------
    def proxy_get(self, pod: str, port: int, path: str, *, namespace: str | None = None, timeout: float = 5.0,
                  limit: int = 10 * 2 ** 20, accept: str = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"
                  ) -> "ProxyResponse":
        """GET ``path`` of ``pod:port`` through the API server's pod proxy (``pods/proxy``).

        Whatever answers (the API server's own Status, or the pod's server passed through) comes back as
        status and body: the caller tells them apart. At most ``limit`` bytes of the body are read
        (``cut`` then says there was more); ``timeout`` bounds the whole exchange, body included."""
        target = f"{resource_path('pods', namespace or self.namespace, pod)}:{int(port)}/proxy/{path.lstrip('/')}"
        deadline = time.monotonic() + timeout
        raw = self._send("GET", target, stream=True, timeout=timeout, accept=accept)
        try:
            data, cut = _read_capped(raw, deadline, limit)
        except Exception as exc:  # noqa: BLE001 — a read timeout or reset mid-body
            raise self._map_error(exc, "GET", target) from exc
        finally:
            try:
                if getattr(raw, "_lws_cut", False):
                    raw.close()  # the rest of a huge body is not worth reading to keep the connection
                else:
                    raw.release_conn()
            except Exception:  # noqa: BLE001 — already closed
                pass
        return ProxyResponse(raw.status, data, cut)

    # ---- logs, watch, exec ------------------------------------------------------------------
    def pod_log_stream(self, name: str, *, namespace: str | None = None, container: str | None = None,
                       follow: bool = False, tail_lines: int | None = None, since_seconds: int | None = None,
                       since_time: str | None = None, timestamps: bool = False, previous: bool = False,
                       limit_bytes: int | None = None) -> Any:
        """Open ``pods/log`` and return the raw streaming response (iterate with ``iter_lines``)."""
        query = {"container": container, "follow": "true" if follow else None, "tailLines": tail_lines,
                 "sinceSeconds": since_seconds, "sinceTime": since_time,
                 "timestamps": "true" if timestamps else None, "previous": "true" if previous else None,
                 "limitBytes": limit_bytes}
        return self.request("GET", resource_path("pods", namespace or self.namespace, name, "log"),
                            query=query, stream=True, accept="*/*",
                            timeout=None if follow else self.settings.request_timeout)

    def watch(self, kind: str, namespace: str | None = None, *, label_selector: str | None = None,
              field_selector: str | None = None, resource_version: str | None = None,
              timeout_seconds: int = 300, all_namespaces: bool = False) -> Iterator[tuple[str, dict]]:
        """Yield ``(type, object)`` watch events; raises ``WatchExpired`` on 410 Gone."""
        path = resource_path(kind, None if all_namespaces else namespace)
        query = {"watch": "true", "labelSelector": label_selector, "fieldSelector": field_selector,
                 "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": timeout_seconds}
        resp = self.request("GET", path, query=query, stream=True, timeout=timeout_seconds + 30)
        try:
            for line in _guarded_lines(resp, self.host):
                try:
                    event = json.loads(line)
                except ValueError:  # half a line when the connection was cut
                    raise errors.Unreachable(f"watch stream from {self.host} broke mid-event") from None
                etype = event.get("type")
                obj = event.get("object") or {}
                if etype == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired(obj.get("message", "too old resource version"))
                    raise map_api_exception(obj.get("code", 500), json.dumps(obj), path)
                yield etype, obj
        finally:
            resp.release_conn()

    def close_streams(self) -> None:
        """Unblock every open streaming response (watches, followed logs) from any thread.

        Used on Ctrl-C or when a follow ends: a thread blocked reading a quiet stream returns at
        once instead of lingering until the server's timeout.
        """
        with self._lock:
            streams = list(self._streams)
        for resp in streams:
            try:
                resp.shutdown()
            except Exception:  # noqa: BLE001 — already closed or not a socket-backed response
                pass

    def list_watch(self, kind: str, namespace: str | None = None, *, label_selector: str | None = None,
                   stop: threading.Event | None = None, all_namespaces: bool = False,
                   field_selector: str | None = None, slim: bool = False,
                   on_lost: Callable[[BaseException], None] | None = None) -> Iterator[tuple[str, Any]]:
        """List, then watch from the list's version; on 410 or a broken stream, list again.

        Yields ``("SYNC", items)`` after every (re)list, then ``(type, obj)`` events; BOOKMARKs are
        consumed here. Callers rebuild their view on SYNC, so a reconnect never loses a change.
        ``slim``: the list's pages and every event's object are slim records (``model/slim.py``).
        ``on_lost`` hears a broken stream before the pause and relist (a recorder notes the gap).
        """
        ns = namespace or self.namespace
        while not (stop and stop.is_set()):
            items, rv = self.list(kind, ns, label_selector=label_selector, field_selector=field_selector,
                                  all_namespaces=all_namespaces, slim=slim)
            yield "SYNC", items
            while not (stop and stop.is_set()):
                try:
                    for etype, obj in self.watch(kind, ns, label_selector=label_selector,
                                                 field_selector=field_selector, resource_version=rv,
                                                 timeout_seconds=240, all_namespaces=all_namespaces):
                        rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                        if etype == "BOOKMARK":
                            continue
                        yield etype, (slimmer.slim(kind, obj) if slim else obj)
                        if stop and stop.is_set():
                            return
                except WatchExpired:
                    break  # relist
                except errors.Unreachable as exc:
                    if stop and stop.is_set():
                        return
                    if on_lost is not None:
                        on_lost(exc)
                    time.sleep(1)
                    break

    def exec(self, pod: str, argv: list[str], *, namespace: str | None = None, container: str | None = None,
             stdin: str | None = None, timeout: float = 30.0) -> ExecResult:
        """Run ``argv`` (no shell) in a container over the exec WebSocket and collect its output."""
        session = self.exec_session(pod, argv, namespace=namespace, container=container,
                                    stdin=stdin is not None, timeout=timeout)
        if stdin is not None:
            session.write(stdin)
            session.close_stdin()  # v5 delivers EOF to stdin; a no-op on v4
        result = session.finish()
        if result.exit_code is None and result.error == "timed out":
            result.error = f"timed out after {timeout:g}s"
        return result

    def exec_session(self, pod: str, argv: list[str], *, namespace: str | None = None,
                     container: str | None = None, stdin: bool = False, timeout: float = 30.0) -> "ExecSession":
        """Start ``argv`` (no shell) and return a live session: read stdout lines as they come, write stdin.

        For probes that must report something (a listening port) before they finish; ``exec`` is the
        simple collect-everything form. Always ``close()`` the session (closing the WebSocket ends the
        command on kubelets that honour it).
        """
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream.ws_client import websocket_call

        ns = namespace or self.namespace
        path = resource_path("pods", ns, pod, "exec")
        started = time.perf_counter()
        status: int | str = 101
        try:
            # The WebSocket call directly, not kubernetes.stream.stream(): that one swaps the shared
            # ApiClient's call_api while it runs, so concurrent execs (verify) could send a plain GET
            # (or leave the swap in place) when one of them fails fast.
            client = self.client
            query: list[tuple[str, str]] = [("command", arg) for arg in argv]
            if container:
                query.append(("container", container))
            query += [("stderr", "true"), ("stdout", "true"), ("stdin", "true" if stdin else "false"),
                      ("tty", "false")]
            _, url, headers, _, _ = client.param_serialize("GET", path, query_params=query,
                                                           header_params={"Accept": "*/*"},
                                                           auth_settings=["BearerToken"])
            # The client opens the socket without a timeout: a server that never answers the upgrade
            # would hang us past every --timeout. Connect + handshake are bounded by this exec's
            # timeout (see _bounded_websocket_connect); the open session then blocks again as before.
            # The client's WebSocket forwards only the Authorization header: the impersonation headers
            # go in at the connect below (the one place every exec opens), or nothing runs.
            _bounded_websocket_connect()
            _CONNECT.timeout = min(timeout, self.settings.request_timeout or timeout)
            _CONNECT.headers = self.impersonation
            _CONNECT.sent = False
            try:
                ws = websocket_call(client.configuration, "GET", url, headers=headers, _preload_content=False,
                                    _request_timeout=timeout)
            finally:
                _CONNECT.timeout = None
                sent, _CONNECT.sent, _CONNECT.headers = _CONNECT.sent, False, []
            if self.impersonation and not sent:  # the client changed how it connects: never exec as ourselves
                try:
                    ws.close()
                finally:
                    raise errors.LwsError("refusing to exec without the impersonation headers (--as/--as-group): "
                                          "this kubernetes client opens exec sessions in a way kubectl-lws does "
                                          "not know", hint="run without --as, or use a supported kubernetes "
                                                           "client version")
            try:
                ws.sock.settimeout(None)
            except Exception:  # noqa: BLE001 — not a socket-backed session
                pass
        except ApiException as exc:
            status = exc.status or "ERR"
            if not exc.status:
                raise _status_zero_error(exc, self.host, path) from exc
            raise map_api_exception(exc.status, exc.body, path) from exc
        except Exception as exc:  # noqa: BLE001
            status = "ERR"
            raise self._map_error(exc, "GET", path) from exc
        finally:
            self._note_request("GET", f"{self.host}{path}", status, started)
        return ExecSession(ws, timeout)


# Per thread, for the exec this thread opens: .timeout bounds connect + handshake; .headers are the
# impersonation headers to add; .sent says they went out.
_CONNECT = threading.local()


def _bounded_websocket_connect() -> None:
    """Install (once) our connect on the client's WebSocket: ``kubernetes.stream.ws_client`` builds
    ``WebSocket(...).connect(url, header=[authorization, protocol])`` with no way to pass a timeout or
    other headers (websocket-client's global default timeout applies only to ``create_connection``).
    Values are per thread (``_CONNECT``)."""
    from kubernetes.stream import ws_client

    if getattr(ws_client.WebSocket, "_lws_bounded", False):
        return

    class BoundedWebSocket(ws_client.WebSocket):  # type: ignore[misc, name-defined]
        _lws_bounded = True

        def connect(self, url: str, **options: Any) -> None:
            bound = getattr(_CONNECT, "timeout", None)
            if bound and "timeout" not in options:
                options["timeout"] = bound
            extra = getattr(_CONNECT, "headers", None)
            if extra:
                header = options.get("header")
                if not isinstance(header, list):  # not the call we know: send nothing rather than run as us
                    raise ConnectionError("cannot add the impersonation headers to the exec request")
                options["header"] = [*header, *(f"{name}: {value}" for name, value in extra)]
                _CONNECT.sent = True
            super().connect(url, **options)

    ws_client.WebSocket = BoundedWebSocket


class ExecSession:
    """A running exec: ``readline`` (stdout), ``write``/``close_stdin``, ``finish`` -> ExecResult, ``close``."""

    def __init__(self, ws: Any, timeout: float) -> None:
        self._ws = ws
        self._deadline = time.monotonic() + timeout
        self._lock = threading.Lock()
        self._closed = False

    def readline(self, timeout: float) -> str | None:
        """The next stdout line, or None when none arrived in ``timeout`` or the command ended."""
        end = min(time.monotonic() + timeout, self._deadline)
        ws = self._ws
        while not self._closed:
            if ws.peek_channel(1):  # a whole line may already be buffered
                data = ws._channels.get(1, "")
                cut = data.find("\n")
                if cut >= 0:
                    ws._channels[1] = data[cut + 1:]
                    return data[:cut]
            left = end - time.monotonic()
            if left <= 0 or not ws.is_open():
                return None
            if not self._update(min(left, 0.5)):
                continue  # the stream ended: hand out what is buffered, then None
        return None

    def _update(self, timeout: float) -> bool:
        """Pump frames; False once the connection is gone (a server that closed first makes the
        client's close echo fail with EPIPE: the output already arrived, so that is just the end)."""
        try:
            self._ws.update(timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 — websocket/socket errors all mean "ended"
            try:
                self._ws._connected = False
            except Exception:  # noqa: BLE001
                pass
            return False

    def write(self, text: str) -> None:
        # bytes -> a BINARY frame: every server reads those; some ignore TEXT frames on channel sockets
        self._ws.write_channel(0, text.encode())

    def close_stdin(self) -> None:
        try:
            self._ws.close_channel(0)
        except Exception:  # noqa: BLE001 — v4 has no close signal; the command then sees no EOF
            pass

    def finish(self, timeout: float | None = None) -> ExecResult:
        """Wait for the command to end (at most ``timeout``) and return everything not read yet."""
        ws = self._ws
        end = min(self._deadline, time.monotonic() + timeout) if timeout is not None else self._deadline
        try:
            while ws.is_open() and time.monotonic() < end and not self._closed:
                if not self._update(min(0.5, max(0.05, end - time.monotonic()))):
                    break
            timed_out = ws.is_open()
            out = ws.read_channel(1) if ws.peek_channel(1) else ""
            err = ws.read_channel(2) if ws.peek_channel(2) else ""
            status_text = ws.read_channel(3) if ws.peek_channel(3) else ""
        finally:
            self.close()
        if timed_out:
            return ExecResult(out, err, None, "timed out")
        return ExecResult(out, err, *_exec_status(status_text))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._ws.close()
        except Exception:  # noqa: BLE001 — already gone
            pass


@contextmanager
def _cut_at(raw: Any, deadline: float) -> Iterator[None]:
    """Shut ``raw`` down when ``deadline`` passes while the block reads it; TimeoutError when it did."""
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        try:
            raw.shutdown()
        except Exception:  # noqa: BLE001 — already complete or closed
            pass

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception as exc:  # noqa: BLE001
        if fired.is_set():
            raise TimeoutError("the response body did not arrive in time") from exc
        raise
    finally:
        timer.cancel()
    if fired.is_set():
        raise TimeoutError("the response body did not arrive in time")


def _read_within(raw: Any, deadline: float | None) -> bytes:
    """The whole body, or a timeout once ``deadline`` passes: --request-timeout bounds the whole call,
    also against a server that sends headers and then trickles or stalls the body."""
    if deadline is None:
        return raw.data
    with _cut_at(raw, deadline):
        data = raw.data
    return data


@dataclass
class ProxyResponse:
    """What ``Cluster.proxy_get`` read: status, at most ``limit`` bytes of body, ``cut`` when there was more."""

    status: int
    data: bytes
    cut: bool


def _read_capped(raw: Any, deadline: float, limit: int) -> tuple[bytes, bool]:
    """Read a streaming body until its end, ``limit`` bytes (then stop: cut) or the deadline (TimeoutError)."""
    chunks: list[bytes] = []
    size = 0
    with _cut_at(raw, deadline):
        while size <= limit:
            chunk = raw.read(min(65536, limit + 1 - size), decode_content=False)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    if size > limit:
        raw._lws_cut = True
        return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


_MALLOC_TUNED = False


def _page_buffers_back_to_the_system() -> None:
    """Have glibc's malloc hand every buffer of 1 MiB or more straight back to the system when freed.

    Why: by default glibc raises its mmap threshold to the size of the last big block freed, so after
    the first 4 MB page the next pages come from the heap (one per thread arena), where freed pages
    leave holes that the process keeps: peak RSS then grows with page size, i.e. with pod bodies.
    A fixed threshold keeps every page in its own mapping (measured on ``bench/status``: +2 MB
    instead of +10 MB peak for pod bodies twice as big). Elsewhere (macOS, musl) nothing changes.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is not None and getattr(libc, "gnu_get_libc_version", None) is not None:
            mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except OSError:
        pass


class _Prefetch:
    """The next page of a LIST, fetched on a thread (its body only: decoding stays on the caller)."""

    def __init__(self, token: str, fetch: Callable[[], bytes]) -> None:
        self.token = token
        self._value: bytes | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fetch()
            except BaseException as exc:  # noqa: BLE001 — handed to the caller
                self._error = exc

        self._thread = threading.Thread(target=run, daemon=True, name="list-prefetch")
        self._thread.start()

    def result(self, *, swallow: bool = False) -> bytes:
        self._thread.join()
        if self._error is not None and not swallow:
            raise self._error
        return self._value or b"{}"


_CONTINUE = re.compile(rb'"continue":"([^"]+)"')


def _peek_continue(body: bytes) -> str | None:
    """The list's continue token when its metadata comes before the items (built-in kinds do);
    None otherwise (then the next page is fetched after decoding, as usual)."""
    head = body[:4096]
    cut = head.find(b'"items"')
    if cut < 0:
        return None
    match = _CONTINUE.search(head, 0, cut)
    return match.group(1).decode() if match else None


def _exec_status(text: str) -> tuple[int | None, str]:
    """Exit code and message from the exec status channel (kubelet's Status JSON)."""
    if not text:
        return 0, ""
    try:
        status = json.loads(text)
    except ValueError:
        return None, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", "")), ""
            except ValueError:
                break
    return None, status.get("message", "command failed")


def _guarded_lines(resp: Any, host: str) -> Iterator[str]:
    """``iter_lines`` with a broken connection reported as ``Unreachable`` (watch callers relist)."""
    import urllib3.exceptions as ux

    try:
        yield from iter_lines(resp)
    except (ux.HTTPError, OSError, AttributeError) as exc:  # AttributeError: urllib3 after shutdown()
        raise errors.Unreachable(f"watch stream from {host} broke: {_reason_text(exc)}") from None


def iter_lines(resp: Any) -> Iterator[str]:
    """Whole lines from a streaming response (never half a line)."""
    buffer = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buffer += chunk
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line, buffer = buffer[:cut], buffer[cut + 1:]
            yield line.decode("utf-8", "replace")
    if buffer:
        yield buffer.decode("utf-8", "replace")


def map_api_exception(code: int | None, body: Any, path: str) -> errors.LwsError:
    """Turn an HTTP error (status code + body) into our error with the server's own words."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    status: dict = {}
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            status = json.loads(body)
        except ValueError:
            status = {}
    message = status.get("message") or (body.strip() if isinstance(body, str) else "") or f"HTTP {code}"
    reason = status.get("reason", "")
    code = code or 0
    if code == 404 and status.get("kind") != "Status" and f"/apis/{LWS_GROUP}/" in path:
        return errors.LwsApiMissing()
    if code == 404 and status.get("kind") != "Status" and f"/apis/{DS_GROUP}/" in path:
        return errors.DsApiMissing()
    kwargs = {"code": code, "reason": reason, "status": status}
    if code == 401:
        return errors.Unauthorized("Unauthorized: the server rejected the credentials "
                                   "(check --token, the kubeconfig user, or log in again)", **kwargs)
    if code == 403:
        from kubectl_lws.model.admission import webhook_refusal_hint

        return errors.Forbidden(message, hint=webhook_refusal_hint(message), **kwargs)
    if code == 404:
        return errors.NotFound(message, **kwargs)
    if code == 409:
        return errors.Conflict(message, **kwargs)
    if code in (400, 415, 422):
        causes = [c.get("message", "") for c in (status.get("details") or {}).get("causes") or []]
        if causes and all(c and c not in message for c in causes):
            message = f"{message}: {'; '.join(causes)}"
        return errors.Invalid(message, **kwargs)
    if code == 504 or reason == "Timeout":
        return errors.RequestTimeout(message)
    return errors.ApiError(f"{message} (HTTP {code})" if code else message, **kwargs)


def _status_zero_error(exc: Any, host: str, path: str) -> errors.LwsError:
    """Errors the client reports with status 0: failed WebSocket handshakes and transport errors.

    The handshake's status and body come from the websocket exception the client wrapped (never
    its text, which carries the response headers as a dict).
    """
    for e in _chain(exc):
        code = getattr(e, "status_code", None)
        if isinstance(code, int) and code >= 400:
            body = getattr(e, "resp_body", None) or b""
            return map_api_exception(code, body or f"HTTP {code} {getattr(e, 'status_message', '') or ''}".strip(),
                                     path)
    text = str(getattr(exc, "reason", None) or exc)
    if _is_timeout(exc):
        return errors.RequestTimeout(f"{host} did not answer in time ({path}); check the server or raise --timeout")
    match = re.search(r"Handshake status (\d+)", text)
    if match:
        body_match = re.search(r"-\+-\+- (b'.*'|b\".*\")\s*$", text, re.S)
        body: Any = text
        if body_match:
            import ast

            try:
                body = ast.literal_eval(body_match.group(1))
            except (ValueError, SyntaxError):
                body = f"HTTP {match.group(1)}"
        else:
            body = f"HTTP {match.group(1)}"
        return map_api_exception(int(match.group(1)), body, path)
    if any(isinstance(e, (OSError,)) for e in _chain(exc)) or "SSL" in text or "certificate" in text:
        return errors.Unreachable(f"cannot reach the API server at {host}: {transport_problem(exc)}")
    return errors.Unreachable(f"cannot reach the API server at {host}: {text.splitlines()[0][:200] if text else 'failed'}")


def _query_list(query: dict | list | None) -> list[tuple[str, Any]]:
    if not query:
        return []
    items = query.items() if isinstance(query, dict) else query
    return [(k, v) for k, v in items if v is not None and v != ""]


def _reason_text(reason: Any) -> str:
    text = str(reason)
    for marker in ("Connection refused", "Name or service not known", "certificate verify failed",
                   "No route to host", "timed out", "Temporary failure in name resolution"):
        if marker in text:
            return marker.lower() if marker != "Connection refused" else "connection refused"
    return text.split(": ", 1)[-1][:200]


def _version() -> str:
    from kubectl_lws import __version__

    return __version__


# A set-based selector stays under this many characters per LIST (URLs pass proxies in front of
# the API server); a read that would take more LISTs than MAX_SELECTED_LISTS reads everything instead.
SELECTOR_CHARS = 4000
MAX_SELECTED_LISTS = 8
LABEL_VALUE_MAX = 63


def selector_chunks(key: str, values: Sequence[str]) -> list[str] | None:
    """``key in (a,b,...)`` selectors of at most SELECTOR_CHARS each covering ``values``; None when
    a value cannot be a label value (longer than 63 characters), so no selector can find it."""
    if any(len(v) > LABEL_VALUE_MAX for v in values):
        return None
    out: list[str] = []
    chunk: list[str] = []
    size = 0
    for value in values:
        if chunk and size + len(value) + 1 > SELECTOR_CHARS:
            out.append(f"{key} in ({','.join(chunk)})")
            chunk, size = [], 0
        chunk.append(value)
        size += len(value) + 1
    if chunk:
        out.append(f"{key} in ({','.join(chunk)})")
    return out


def encode_query(query: dict) -> str:
    """Query string in the form the request log prints (for messages and tests)."""
    return urlencode([(k, v) for k, v in query.items() if v is not None])


# ---- configuration and transport problems, in words a user can act on ---------------------------

def _current_user(resolved: ResolvedConfig) -> tuple[str, dict]:
    """The kubeconfig user of the chosen context (name, body), or ``("", {})``."""
    config = resolved.kubeconfig or {}
    context = next((c.get("context") or {} for c in config.get("contexts") or []
                    if c.get("name") == resolved.context_name), {})
    name = context.get("user") or ""
    user = next((u.get("user") or {} for u in config.get("users") or [] if u.get("name") == name), {})
    return name, user if isinstance(user, dict) else {}


def _check_exec_helper(user_name: str, user: dict) -> None:
    """An exec credential helper that is not installed is named before the client runs it.

    (The client would log ``ERROR:root:`` and carry on without credentials: a misleading 401.)
    """
    import os
    import shutil

    command = ((user.get("exec") or {}) if isinstance(user.get("exec"), dict) else {}).get("command")
    if not command:
        return
    found = os.access(command, os.X_OK) if os.sep in command else shutil.which(command) is not None
    if not found:
        raise errors.ConfigError(f'getting credentials for user "{user_name}": the exec credential helper '
                                 f'"{command}" was not found{"" if os.sep in command else " on PATH"}',
                                 hint="install it, or fix users[].user.exec.command in the kubeconfig")


class _client_log:
    """Collect what the kubernetes client logs at ERROR while loading credentials (instead of
    ``ERROR:root:`` on stderr): the caller turns it into one error line."""

    def __enter__(self) -> list[str]:
        import logging

        self.messages: list[str] = []
        messages = self.messages

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                messages.append(record.getMessage().strip().splitlines()[0] if record.getMessage().strip()
                                else "error")

        self.handler = Collect(logging.ERROR)
        self.root = logging.getLogger()
        self.root.addHandler(self.handler)  # a root handler also stops logging.error() calling basicConfig()
        return messages

    def __exit__(self, *exc: Any) -> None:
        self.root.removeHandler(self.handler)


def _check_tls_files(cfg: Any, s: ConnectionSettings, resolved: ResolvedConfig) -> None:
    """CA, client certificate and key files exist and hold PEM data, named as the user gave them."""
    import os
    import ssl

    cluster = {}
    if resolved.kubeconfig:
        context = next((c.get("context") or {} for c in resolved.kubeconfig.get("contexts") or []
                        if c.get("name") == resolved.context_name), {})
        cluster = next((c.get("cluster") or {} for c in resolved.kubeconfig.get("clusters") or []
                        if c.get("name") == context.get("cluster")), {})

    def origin(path: str, flag: str, given: str | None, key: str, entry: dict) -> str:
        if given and path == given:
            return f"{flag} file {path}"
        if entry.get(key) == path:
            return f"the kubeconfig's {key} file {path}"
        return f"the kubeconfig's {key}-data"

    _, user = _current_user(resolved)
    ca = cfg.ssl_ca_cert
    if ca and cfg.verify_ssl:
        what = origin(ca, "--certificate-authority", s.certificate_authority, "certificate-authority", cluster)
        if not os.path.isfile(ca):
            raise errors.ConfigError(f"{what} does not exist")
        try:
            ssl.create_default_context(cafile=ca)
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise errors.ConfigError(f"{what} holds no PEM certificate ({getattr(exc, 'reason', None) or exc})",
                                     hint="it must be the cluster's CA certificate in PEM form "
                                          "(-----BEGIN CERTIFICATE-----)") from None
    cert, key = cfg.cert_file, cfg.key_file
    if cert or key:
        for path, flag, given, name in ((cert, "--client-certificate", s.client_certificate, "client-certificate"),
                                        (key, "--client-key", s.client_key, "client-key")):
            if path and not os.path.isfile(path):
                raise errors.ConfigError(f"{origin(path, flag, given, name, user)} does not exist")
        if cert:
            try:
                ssl.create_default_context().load_cert_chain(cert, key)
            except (ssl.SSLError, ValueError, OSError) as exc:
                raise errors.ConfigError(
                    f"cannot load the client certificate {cert}{f' and key {key}' if key else ''}: "
                    f"{getattr(exc, 'reason', None) or exc} (they must be PEM and belong together)") from None


def _no_timeout_retries() -> Any:
    """urllib3 retries that never repeat a timed-out, refused or answered request (see _build_client)."""
    import urllib3
    import urllib3.exceptions as ux

    class NoTimeoutRetry(urllib3.Retry):
        def increment(self, method: Any = None, url: Any = None, response: Any = None, error: Any = None,
                      _pool: Any = None, _stacktrace: Any = None) -> Any:
            if isinstance(error, ux.TimeoutError):
                raise ux.MaxRetryError(_pool, url, error) from error
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return NoTimeoutRetry(total=1, connect=0, read=1, redirect=0, status=0, other=0, raise_on_status=False)


def _is_timeout(exc: BaseException) -> bool:
    """A read or connect timeout (urllib3's NewConnectionError is a ConnectTimeoutError too: it is not)."""
    ux = sys.modules.get("urllib3.exceptions")  # not imported when urllib3 never served a request
    for e in _chain(exc):
        if ux is not None and isinstance(e, ux.NewConnectionError):
            return False
        if ux is not None and isinstance(e, (ux.ReadTimeoutError, ux.ConnectTimeoutError)):
            return True
        if isinstance(e, TimeoutError) and not (ux is not None and isinstance(e, ux.HTTPError)):
            return True
    return False


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and every exception it wraps (urllib3 reasons, args, causes, contexts)."""
    out: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is seen for seen in out) or len(out) > 20:
            continue
        out.append(e)
        todo.append(getattr(e, "reason", None) if isinstance(getattr(e, "reason", None), BaseException) else None)
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        todo.extend([e.__cause__, e.__context__])
    return out


def transport_problem(exc: BaseException) -> str:
    """What went wrong between us and the server, in one phrase a user can act on."""
    import socket

    ssl = sys.modules.get("ssl")  # loaded by whichever transport spoke TLS; absent: no TLS error
    hc = sys.modules.get("http.client")
    chain = _chain(exc)
    for e in chain:
        if ssl is not None and isinstance(e, ssl.SSLCertVerificationError):
            return (f"the server's certificate is not trusted ({e.verify_message or 'verification failed'}); "
                    "check --certificate-authority or the kubeconfig's certificate-authority")
    for e in chain:
        if ssl is not None and isinstance(e, ssl.SSLError):
            reason = getattr(e, "reason", None) or ""
            if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE",
                          "PACKET_LENGTH_TOO_LONG", "UNEXPECTED_RECORD"):
                return ("TLS handshake failed: the server does not speak TLS on this port "
                        "(check http:// versus https:// and the port)")
            return (f"TLS handshake failed ({reason or 'SSL error'}); check the server address, "
                    "--certificate-authority and the client certificate")
    for e in chain:
        if "not an HTTP response" in str(e):  # a transport's own word for it
            return ("the server's answer is not HTTP (is this the API server's address and port? "
                    "check --server and the scheme)")
        if "closed the connection without answering" in str(e) or \
                (hc is not None and isinstance(e, hc.RemoteDisconnected)):
            return ("the server closed the connection without answering (is this the API server's address and "
                    "port, with the right scheme, http:// or https://?)")
        if hc is not None and isinstance(e, (hc.BadStatusLine, hc.LineTooLong, hc.HTTPException)):
            return ("the server's answer is not HTTP (is this the API server's address and port? "
                    "check --server and the scheme)")
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return "the host name cannot be resolved (check --server or the kubeconfig's server)"
        if isinstance(e, ConnectionResetError):
            return "the connection was reset by the server"
    return _reason_text(exc)
