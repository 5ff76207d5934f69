"""A light HTTP transport for kubeconfigs whose credentials need no plugin.

Why: importing the kubernetes client costs about 0.3 s (its package ``__init__`` loads every generated
model, its config loader pulls in google-auth, requests and oauthlib), several times what a small
``status`` spends on the network. Most kubeconfigs carry a bearer token, a token file or a client
certificate, and for those a urllib3 pool does everything the client would. Anything else (``exec``
credential plugins, ``auth-provider``, in-cluster config, proxies, impersonation set in the kubeconfig)
returns None from ``light_transport`` and the caller uses the kubernetes client, which handles those.

The responses are urllib3 ``HTTPResponse`` objects either way, so streaming callers (watch, logs)
do not care which transport served them.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from kubectl_lws import errors
from kubectl_lws.kubeconfig import ConnectionSettings, ResolvedConfig

# Kubeconfig keys this transport understands; any other key (exec, auth-provider, as, ...) means
# the kubernetes client must do the job.
_USER_KEYS = {"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key",
              "client-key-data", "username", "password"}
_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                 "tls-server-name", "extensions"}


class Response:
    """A whole response read by ``http.client``: what non-streaming callers need of urllib3's."""

    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.data = data

    def release_conn(self) -> None:
        pass


@dataclass
class LightTransport:
    """Host, default headers, a keep-alive ``http.client`` pool for whole responses and (built on
    first use) a urllib3 pool for streams (watch, logs), which callers read incrementally."""

    host: str
    headers: dict[str, str] = field(default_factory=dict)
    token_file: str | None = None
    ssl_context: Any = None
    server_hostname: str | None = None
    max_connections: int = 16
    _idle: list = field(default_factory=list)
    _pool: Any = None

    @property
    def pool(self) -> Any:
        """urllib3 pool for streaming responses (imported only by commands that stream)."""
        if self._pool is None:
            import urllib3

            kw: dict[str, Any] = {}
            if self.ssl_context is not None:
                if self.ssl_context.verify_mode == 0:
                    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
                kw = {"ssl_context": self.ssl_context, "server_hostname": self.server_hostname,
                      "assert_hostname": False if self.ssl_context.verify_mode == 0 else None}
            self._pool = urllib3.PoolManager(num_pools=4, maxsize=self.max_connections, block=False, **kw)
        return self._pool

    def fetch(self, method: str, target: str, headers: dict[str, str], body: Any,
              timeout: float | None) -> Response:
        """One request on a kept-alive connection, whole body read (retried once on a stale one)."""
        import http.client

        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            try:
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                data = _read_body(resp)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: one fresh try
                raise
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            elif len(self._idle) < self.max_connections:
                self._idle.append(conn)
            return Response(resp.status, data)
        raise AssertionError("unreachable")

    def _connection(self, timeout: float | None) -> tuple[Any, bool]:
        try:
            conn = self._idle.pop()
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn, True
        except IndexError:
            pass
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.host)
        if parts.scheme == "https":
            ctx = self.ssl_context
            conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=ctx)
            if self.server_hostname:
                # SNI and verification against tls-server-name rather than the address dialled
                def connect(c: Any = conn) -> None:
                    import socket

                    sock = socket.create_connection((c.host, c.port), c.timeout)
                    c.sock = ctx.wrap_socket(sock, server_hostname=self.server_hostname)
                conn.connect = connect  # type: ignore[method-assign]
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        return conn, False

    def auth_headers(self) -> dict[str, str]:
        if self.token_file:  # re-read like client-go: projected tokens rotate on disk
            try:
                with open(self.token_file) as fh:
                    return {**self.headers, "Authorization": f"Bearer {fh.read().strip()}"}
            except OSError as exc:
                raise errors.ConfigError(f"cannot read tokenFile {self.token_file}: {exc.strerror}") from exc
        return self.headers


def _read_body(resp: Any) -> Any:
    """The whole body; with a Content-Length, into one preallocated buffer (a 4 MB page of a LIST
    is then held once, not once per chunk read plus once joined)."""
    length = resp.length
    if not length or resp.chunked:
        return resp.read()
    buf = bytearray(length)
    view = memoryview(buf)
    got = 0
    while got < length:
        n = resp.readinto(view[got:])
        if not n:
            break
        got += n
    view.release()
    if got < length:
        del buf[got:]
    return buf


def _entry(config: dict, section: str, name: str | None) -> dict:
    for item in config.get(section) or []:
        if item.get("name") == name:
            return item.get(section[:-1]) or {}
    return {}


def light_transport(resolved: ResolvedConfig, settings: ConnectionSettings, *,
                    max_connections: int = 16) -> LightTransport | None:
    """A transport without the kubernetes client, or None when the credentials need it."""
    if resolved.in_cluster:
        return None
    cluster: dict = {}
    user: dict = {}
    if resolved.kubeconfig is not None and resolved.context_name:
        ctx = _entry(resolved.kubeconfig, "contexts", resolved.context_name)
        cluster = _entry(resolved.kubeconfig, "clusters", ctx.get("cluster"))
        user = _entry(resolved.kubeconfig, "users", ctx.get("user"))
    if settings.token:
        user = {"token": settings.token}
    if set(user) - _USER_KEYS or set(cluster) - _CLUSTER_KEYS:
        return None
    if cluster.get("proxy-url"):
        return None
    host = (settings.server or cluster.get("server") or "").rstrip("/")
    if not host:
        raise errors.ConfigError("no server found in the kubeconfig: pass --server")
    if "://" not in host:
        host = "https://" + host  # what client-go does with a bare host:port
    headers: dict[str, str] = {}
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    elif user.get("username") and user.get("password"):
        raw = f"{user['username']}:{user['password']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    transport = LightTransport(host=host, headers=headers,
                               token_file=None if user.get("token") else user.get("tokenFile"),
                               max_connections=max_connections,
                               server_hostname=cluster.get("tls-server-name") or None)
    if host.startswith("https://"):
        transport.ssl_context = _ssl_context(cluster, user, settings)
    return transport


def _ssl_context(cluster: dict, user: dict, s: ConnectionSettings) -> Any:
    import ssl

    insecure = s.insecure_skip_tls_verify or bool(cluster.get("insecure-skip-tls-verify"))
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ca_file = s.certificate_authority or cluster.get("certificate-authority")
        ca_data = None if s.certificate_authority else cluster.get("certificate-authority-data")
        try:
            if ca_file:
                ctx.load_verify_locations(cafile=os.path.expanduser(ca_file))
            elif ca_data:
                ctx.load_verify_locations(cadata=base64.b64decode(ca_data).decode())
        except (OSError, ValueError, ssl.SSLError) as exc:
            what = ca_file or "certificate-authority-data"
            raise errors.ConfigError(f"cannot load the certificate authority {what}: "
                                     f"{getattr(exc, 'strerror', None) or exc}") from exc
    cert = s.client_certificate or user.get("client-certificate")
    key = s.client_key or user.get("client-key")
    cert_data = None if s.client_certificate else user.get("client-certificate-data")
    key_data = None if s.client_key else user.get("client-key-data")
    if cert or cert_data:
        _load_client_cert(ctx, cert, key, cert_data, key_data)
    return ctx


def _load_client_cert(ctx: Any, cert: str | None, key: str | None, cert_data: str | None,
                      key_data: str | None) -> None:
    """ssl wants files: inline data goes through private temporary files, removed at once."""
    made: list[str] = []
    try:
        if cert_data:
            cert = _private_file(base64.b64decode(cert_data), made)
        if key_data:
            key = _private_file(base64.b64decode(key_data), made)
        ctx.load_cert_chain(os.path.expanduser(cert or ""), os.path.expanduser(key) if key else None)
    except (OSError, ValueError) as exc:
        raise errors.ConfigError(f"cannot load the client certificate: {getattr(exc, 'strerror', None) or exc}") \
            from exc
    finally:
        for path in made:
            try:
                os.unlink(path)
            except OSError:
                pass


def _private_file(data: bytes, made: list[str]) -> str:
    fd, path = tempfile.mkstemp(prefix="kubectl-lws-")
    made.append(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path
