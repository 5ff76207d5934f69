"""A light HTTP transport for kubeconfigs whose credentials need no plugin.

Why: importing the kubernetes client costs about 0.3 s (its package ``__init__`` loads every generated
model, its config loader pulls in google-auth, requests and oauthlib), several times what a small
``status`` spends on the network. Most kubeconfigs carry a bearer token, a token file or a client
certificate, and for those a urllib3 pool does everything the client would. Anything else (``exec``
credential plugins, ``auth-provider``, in-cluster config, proxies (kubeconfig ``proxy-url`` or the
``*_PROXY`` environment)) returns None from ``light_transport`` and the caller uses the kubernetes client,
which handles those. Impersonation (flags or the kubeconfig user's ``as*``) is added by ``Cluster`` to
every request of either transport.

The responses are urllib3 ``HTTPResponse`` objects either way, so streaming callers (watch, logs)
do not care which transport served them.
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from kubectl_lws import errors
from kubectl_lws.kubeconfig import ConnectionSettings, ResolvedConfig, check_server_url, default_scheme

# Kubeconfig keys this transport understands; any other key (exec, auth-provider, as, ...) means
# the kubernetes client must do the job.
_USER_KEYS = {"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key",
              "client-key-data", "username", "password", "as", "as-groups", "as-uid", "as-user-extra"}
_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
                 "tls-server-name", "extensions"}


_POOL_LOCK = threading.Lock()


class Response:
    """A whole response: what non-streaming callers need of urllib3's."""

    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.data = data

    def release_conn(self) -> None:
        pass


@dataclass
class LightTransport:
    """Host, default headers, kept-alive connections for whole responses and (built on first use)
    a urllib3 pool for streams (watch, logs), which callers read incrementally."""

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
            with _POOL_LOCK:
                if self._pool is None:
                    self._pool = self._make_pool()
        return self._pool

    def _make_pool(self) -> Any:
        import urllib3

        kw: dict[str, Any] = {}
        if self.ssl_context is not None:
            if self.ssl_context.verify_mode == 0:
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            kw = {"ssl_context": self.ssl_context, "server_hostname": self.server_hostname,
                  "assert_hostname": False if self.ssl_context.verify_mode == 0 else None}
        return urllib3.PoolManager(num_pools=4, maxsize=self.max_connections, block=False, **kw)

    def fetch(self, method: str, target: str, headers: list[tuple[str, str]], body: Any,
              timeout: float | None) -> Response:
        """One request on a kept-alive connection, whole body read (retried once on a stale one).

        ``timeout`` (--request-timeout) bounds the whole exchange, as kubectl's does: the socket
        timeout bounds each read, and a timer cuts a server that trickles its answer."""
        import time

        deadline = time.monotonic() + timeout if timeout else None
        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            cut = _Cut(conn, deadline - time.monotonic()) if deadline is not None else None
            try:
                status, data, keep = conn.exchange(method, target, headers, body)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                conn.close()
                if cut is not None and cut.fired:
                    raise TimeoutError("the answer did not arrive within --request-timeout") from None
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: one fresh try
                raise
            except BaseException:
                conn.close()
                if cut is not None and cut.fired:
                    raise TimeoutError("the answer did not arrive within --request-timeout") from None
                raise
            finally:
                if cut is not None:
                    cut.cancel()
            if cut is not None and cut.fired:
                conn.close()
                raise TimeoutError("the answer did not arrive within --request-timeout")
            if not keep:
                conn.close()
            elif len(self._idle) < self.max_connections:
                self._idle.append(conn)
            return Response(status, data)
        raise AssertionError("unreachable")

    def _connection(self, timeout: float | None) -> tuple["_Connection", bool]:
        try:
            conn = self._idle.pop()
            conn.sock.settimeout(timeout)
            return conn, True
        except IndexError:
            pass
        from urllib.parse import urlsplit

        parts = urlsplit(self.host)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        return _Connection(parts.hostname or "", port, timeout, self.ssl_context if https else None,
                           self.server_hostname), False

    def auth_headers(self) -> dict[str, str]:
        if self.token_file:  # re-read like client-go: projected tokens rotate on disk
            try:
                with open(self.token_file) as fh:
                    return {**self.headers, "Authorization": f"Bearer {fh.read().strip()}"}
            except OSError as exc:
                raise errors.ConfigError(f"cannot read tokenFile {self.token_file}: {exc.strerror}") from exc
        return self.headers


class _Cut:
    """Shut a connection down when its deadline passes (only with --request-timeout)."""

    def __init__(self, conn: "_Connection", seconds: float) -> None:
        import threading

        self.fired = False
        self._conn = conn
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        import socket

        self.fired = True
        try:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cancel(self) -> None:
        self._timer.cancel()


class _Connection:
    """HTTP/1.1 on one socket: request out, status + headers + whole body in (Content-Length,
    chunked, or until close), kept alive unless the server says otherwise.

    Why not ``http.client``: it imports the ``email`` package (about 20 ms, an eighth of a small
    command), and an API server's answers need none of it. Streams (watch, logs) use urllib3.
    """

    def __init__(self, host: str, port: int, timeout: float | None, ssl_context: Any,
                 server_hostname: str | None) -> None:
        import socket

        self.host_header = host if port in (80, 443) else f"{host}:{port}"
        if ":" in host and not host.startswith("["):  # IPv6 literal
            self.host_header = f"[{host}]" if port in (80, 443) else f"[{host}]:{port}"
        sock = socket.create_connection((host, port), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or host)
        self.sock = sock
        self.rfile = sock.makefile("rb", buffering=65536)

    def close(self) -> None:
        try:
            self.rfile.close()
            self.sock.close()
        except OSError:
            pass

    def exchange(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
                 ) -> tuple[int, Any, bool]:
        """``headers`` as pairs: a name may repeat (``Impersonate-Group``)."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.sock.sendall(head + body if body else head)
        rfile = self.rfile
        status_line = rfile.readline(65537)
        if not status_line:
            raise ConnectionResetError("the server closed the connection without answering")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP response from the server: {status_line[:60]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        while True:
            line = rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = value.lower() != b"close" and (keep or value.lower() == b"keep-alive")
        if status in (204, 304) or 100 <= status < 200 or method == "HEAD":
            return status, b"", keep
        if chunked:
            return status, self._chunked(), keep
        if length is not None:
            return status, self._exactly(length), keep
        return status, rfile.read(), False  # delimited by the close

    def _exactly(self, length: int) -> bytearray:
        """``length`` bytes into one preallocated buffer (a 4 MB LIST page held once)."""
        buf = bytearray(length)
        view = memoryview(buf)
        got = 0
        while got < length:
            n = self.rfile.readinto(view[got:])
            if not n:
                view.release()
                raise ConnectionResetError(f"the connection closed after {got} of {length} bytes")
            got += n
        view.release()
        return buf

    def _chunked(self) -> bytearray:
        """A chunked body gathered in one growing buffer: kube-apiserver sends big LISTs chunked, and a
        list of pieces plus their joined copy would hold a 4 MB page twice."""
        out = bytearray()
        rfile = self.rfile
        while True:
            size_line = rfile.readline(65537)
            if not size_line:
                raise ConnectionResetError("the connection closed inside a chunked body")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return out
            piece = rfile.read(size)
            if len(piece) < size:
                raise ConnectionResetError(f"the connection closed after {len(out) + len(piece)} bytes "
                                           "of a chunked body")
            out += piece
            rfile.readline(3)  # CRLF after the chunk


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
    if cluster.get("proxy-url") or _env_proxy_set():
        return None
    host = (settings.server or cluster.get("server") or "").rstrip("/")
    if not host:
        raise errors.ConfigError("no server found in the kubeconfig: pass --server")
    if not settings.server:  # the flag was checked while parsing; the kubeconfig's server here
        try:
            check_server_url(host)
        except errors.UsageError as exc:
            raise errors.ConfigError(f"the kubeconfig's cluster server: {exc.message}") from None
    # client-go's rule for a bare host:port: https when TLS is configured, else http
    tls = bool(settings.certificate_authority or settings.client_certificate or settings.insecure_skip_tls_verify
               or cluster.get("certificate-authority") or cluster.get("certificate-authority-data")
               or cluster.get("insecure-skip-tls-verify") or user.get("client-certificate")
               or user.get("client-certificate-data"))
    host = default_scheme(host, tls)
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


def _env_proxy_set() -> bool:
    """HTTP(S)_PROXY / ALL_PROXY in the environment: the kubernetes client honours them (with
    NO_PROXY), so such a setup goes through it rather than past the proxy."""
    return any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                                 "ALL_PROXY", "all_proxy"))


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
            if not ca_file:
                what = "the kubeconfig's certificate-authority-data"
            elif s.certificate_authority:
                what = f"--certificate-authority file {ca_file}"
            else:
                what = f"the kubeconfig's certificate-authority file {ca_file}"
            if isinstance(exc, FileNotFoundError):
                raise errors.ConfigError(f"{what} does not exist") from None
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise errors.ConfigError(f"{what} holds no PEM certificate ({reason})",
                                     hint="it must be the cluster's CA certificate in PEM form "
                                          "(-----BEGIN CERTIFICATE-----)") from None
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
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise errors.ConfigError(f"cannot load the client certificate {cert or 'from client-certificate-data'}: "
                                 f"{reason} (certificate and key must be PEM and belong together)") from None
    finally:
        for path in made:
            try:
                os.unlink(path)
            except OSError:
                pass


def _private_file(data: bytes, made: list[str]) -> str:
    import tempfile  # only kubeconfigs with inline client certificates need it (4 ms of imports)

    fd, path = tempfile.mkstemp(prefix="kubectl-lws-")
    made.append(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path
