"""Error mapping over real HTTP: a tiny server replays the golden Status bodies to the real CLI.

These run the real kubernetes client through our cluster module; each error must come out as
one line on stderr with the documented exit code and no traceback.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from cliutil import run_cli
from golden import HttpExchange, read_http
from kubectl_lws import errors
from kubectl_lws.cluster import Cluster
from kubectl_lws.kubeconfig import ConnectionSettings


class Replay:
    """Serve fixed golden responses by (method, path); everything else is 404 page not found."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], HttpExchange] = {}
        self.seen: list[tuple[str, str, dict]] = []
        self.delay = 0.0
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                replay.seen.append((self.command, self.path, dict(self.headers)))
                if replay.delay:
                    time.sleep(replay.delay)
                exchange = replay.routes.get((self.command, self.path.split("?", 1)[0]))
                if exchange is None:
                    status, ctype, body = 404, "text/plain; charset=utf-8", "404 page not found\n"
                else:
                    status = exchange.status
                    ctype = exchange.response_headers.get("content-type", "application/json")
                    body = exchange.body
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_PUT = do_POST = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # The timeout test hangs up on a slow answer on purpose: no traceback for that broken pipe.
        self.server.handle_error = lambda *args: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, relpath: str) -> HttpExchange:
        exchange = read_http(relpath)
        self.routes[(exchange.method, exchange.route)] = exchange
        return exchange


@pytest.fixture
def replay() -> Iterator[Replay]:
    server = Replay()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()


def _cluster(replay: Replay, **kw: object) -> Cluster:
    return Cluster(ConnectionSettings(server=replay.url, token="t", **kw))  # type: ignore[arg-type]


def test_missing_lws_suggests_close_names(replay: Replay) -> None:
    replay.add("http/errors/404-get-missing-lws.http")
    replay.add("http/lws/list-lws-namespace.http")
    with pytest.raises(errors.NotFound) as info:
        _cluster(replay).get_lws("does-not-exist", "golden")
    assert str(info.value) == 'leaderworkerset "does-not-exist" not found in namespace "golden"'
    assert "kubectl lws list" in (info.value.hint or "")


def test_lws_api_not_installed(replay: Replay) -> None:
    with pytest.raises(errors.LwsApiMissing, match="is the LWS controller installed"):
        _cluster(replay).list_lws("golden")


@pytest.mark.parametrize("relpath,error_type,fragment", [
    ("http/errors/403-webhook-denied-partition-negative-merge.http", errors.Forbidden,
     'admission webhook "vleaderworkerset.kb.io" denied the request'),
    ("http/errors/422-patch-scale-replicas-negative.http", errors.Invalid,
     "spec.replicas in body should be greater than or equal to 0"),
    ("http/errors/409-conflict-put-stale-resourceVersion.http", errors.Conflict,
     "the object has been modified"),
    ("http/errors/400-bad-labelSelector.http", errors.Invalid, "expected: ',' or 'end of string'"),
    ("http/errors/415-strategic-merge-patch-on-cr.http", errors.Invalid, "unknown format"),
    ("http/rbac/403-patch-lws-partition.http", errors.Forbidden, "cannot patch resource"),
])
def test_status_bodies_map_to_errors(replay: Replay, relpath: str, error_type: type, fragment: str) -> None:
    exchange = replay.add(relpath)
    cluster = _cluster(replay)
    with pytest.raises(error_type) as info:
        cluster.request(exchange.method, exchange.path.split("?", 1)[0],
                        body={"x": 1} if exchange.method in ("PATCH", "PUT", "POST") else None)
    assert fragment in str(info.value)
    assert info.value.code == exchange.status


def test_cli_unauthorized_is_one_line_exit_1(replay: Replay) -> None:
    replay.routes[("GET", "/version")] = read_http("http/errors/401-invalid-token.http")
    result = run_cli(["version", "--server", replay.url, "--token", "bad"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Unauthorized")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_unreachable_and_timeout(replay: Replay) -> None:
    result = run_cli(["version", "--server", "http://127.0.0.1:1"])
    assert result.exit_code == 1
    assert "cannot reach the API server at http://127.0.0.1:1: connection refused" in result.stderr
    replay.routes[("GET", "/version")] = read_http("http/discovery/version.http")
    replay.delay = 2.0
    result = run_cli(["version", "--server", replay.url, "--request-timeout", "300ms"])
    assert result.exit_code == 1
    assert "timed out" in result.stderr


def test_impersonation_and_verbose_request_log(replay: Replay) -> None:
    replay.add("http/discovery/version.http")
    replay.routes[("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                   "leaderworkersets.leaderworkerset.x-k8s.io")] = read_http("http/errors/404-get-missing-lws.http")
    result = run_cli(["version", "--server", replay.url, "--as", "alice", "--as-group", "g1",
                      "--as-group", "g2", "-v", "6"])
    version_req = next(h for m, p, h in replay.seen if p == "/version")
    assert version_req.get("Impersonate-User") == "alice"
    assert "GET /version 200" in result.stderr  # -v 6: method, path, status, ms


def test_bad_kubeconfig_and_unknown_context(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.yaml"
    bad.write_text("contexts: [\n")
    result = run_cli(["version", "--server", "--kubeconfig", str(bad)])
    assert result.exit_code == 1 and "malformed kubeconfig" in result.stderr
    good = tmp_path / "ok.yaml"
    good.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    result = run_cli(["version", "--server", "--kubeconfig", str(good), "--context", "nope"])
    assert result.exit_code == 1 and 'context "nope" does not exist' in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run_cli(["nope"]).exit_code == 2
    assert run_cli(["version", "--request-timeout", "soon"]).exit_code == 2
    assert run_cli(["version", "--no-such-flag"]).exit_code == 2
