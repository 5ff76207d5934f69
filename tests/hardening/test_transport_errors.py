"""Items 5 and 6 of issue 16: transport and configuration failures in one sentence a user can act on
(no Python internals), and --request-timeout as a bound on the whole call."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from cliutil import run_cli, tcp_server

INTERNALS = ("Traceback", "unexpected ", "_ssl.c", "Errno", "BadStatusLine", "FutureWarning", "site-packages",
             "ERROR:root", "ApiError:", "content-type", "ValueError", "UnicodeDecodeError")


def _clean(stderr: str) -> None:
    for word in INTERNALS:
        assert word not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: ") and len(lines) <= 2, stderr
    assert all(line.startswith("hint: ") for line in lines[1:]), stderr


def _answer_garbage(conn: socket.socket, stop: threading.Event) -> None:
    conn.settimeout(2)
    conn.recv(4096)
    conn.sendall(b"\x00\x01\x02 garbage \xff\r\n\r\n")


@pytest.fixture(scope="module")
def garbage_server() -> Iterator[int]:
    """A TCP server that answers anything with bytes that are neither HTTP nor TLS."""
    with tcp_server(_answer_garbage) as port:
        yield port


def _empty_kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "empty.yaml"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return str(path)


def test_binary_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "kc.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 20)
    r = run_cli(["list"], kubeconfig=str(path))
    assert r.exit_code == 1
    _clean(r.stderr)
    assert f"malformed kubeconfig {path}: not a text (UTF-8) file" in r.stderr


def test_server_without_scheme_works_like_kubectl(hard, proc, tmp_path: Path) -> None:  # noqa: ANN001
    hostport = hard.url.split("://", 1)[1]
    done = proc(["list", "-n", "hard", "-s", hostport, "--kubeconfig", _empty_kubeconfig(tmp_path)])
    assert done.returncode == 0, done.stderr
    assert "web" in done.stdout and done.stderr == ""


@pytest.mark.parametrize("server, words", [
    ("http://[::1", 'invalid server URL "http://[::1": Invalid IPv6 URL'),
    ("http://127.0.0.1:99999", 'invalid server URL "http://127.0.0.1:99999"'),
    ("ftp://127.0.0.1:1", "the scheme must be http or https"),
])
def test_malformed_server_urls_are_usage_errors(server: str, words: str) -> None:
    r = run_cli(["list", "-s", server], kubeconfig="/nonexistent")
    assert r.exit_code == 2
    _clean(r.stderr)
    assert words in r.stderr


def test_a_server_that_speaks_garbage(garbage_server: int, tmp_path: Path) -> None:
    kc = _empty_kubeconfig(tmp_path)
    r = run_cli(["list", "-s", f"http://127.0.0.1:{garbage_server}", "--request-timeout", "5s"], kubeconfig=kc)
    assert r.exit_code == 1
    _clean(r.stderr)
    assert "the server's answer is not HTTP" in r.stderr
    r = run_cli(["list", "-s", f"https://127.0.0.1:{garbage_server}", "--insecure-skip-tls-verify",
                 "--request-timeout", "5s"], kubeconfig=kc)
    assert r.exit_code == 1
    _clean(r.stderr)
    assert "TLS handshake failed: the server does not speak TLS on this port" in r.stderr


def test_ca_files(garbage_server: int, tmp_path: Path) -> None:
    kc = _empty_kubeconfig(tmp_path)
    not_a_cert = tmp_path / "ca.crt"
    not_a_cert.write_text("hello, I am not a certificate\n")
    r = run_cli(["list", "-s", f"https://127.0.0.1:{garbage_server}", "--certificate-authority", str(not_a_cert)],
                kubeconfig=kc)
    assert r.exit_code == 1
    _clean(r.stderr)
    assert f"--certificate-authority file {not_a_cert} holds no PEM certificate" in r.stderr
    missing = tmp_path / "nothere" / "ca.crt"
    r = run_cli(["list", "-s", f"https://127.0.0.1:{garbage_server}", "--certificate-authority", str(missing)],
                kubeconfig=kc)
    assert r.exit_code == 1
    _clean(r.stderr)
    assert f"--certificate-authority file {missing} does not exist" in r.stderr
    # the same file named by the kubeconfig
    cfg = tmp_path / "kc-ca.yaml"
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{garbage_server}",
                                               "certificate-authority": str(missing)}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    r = run_cli(["list"], kubeconfig=str(cfg))
    assert r.exit_code == 1
    _clean(r.stderr)
    assert str(missing) in r.stderr and "does not exist" in r.stderr.lower()


def _exec_kubeconfig(tmp_path: Path, server: str, command: str) -> str:
    cfg = tmp_path / f"exec-{Path(command).name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "dev", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                    "command": command, "interactiveMode": "Never"}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "dev", "namespace": "hard"}}]}))
    return str(cfg)


def test_exec_credential_helper_missing_or_failing(hard, proc, tmp_path: Path) -> None:  # noqa: ANN001
    hard.request_log.clear()
    done = proc(["list"], kubeconfig=_exec_kubeconfig(tmp_path, hard.url, "kubectl-lws-no-such-helper"))
    assert done.returncode == 1
    _clean(done.stderr)
    assert ('error: getting credentials for user "dev": the exec credential helper "kubectl-lws-no-such-helper" '
            "was not found on PATH") in done.stderr
    assert "Unauthorized" not in done.stderr
    done = proc(["list"], kubeconfig=_exec_kubeconfig(tmp_path, hard.url, "false"))
    assert done.returncode == 1
    _clean(done.stderr)
    assert 'getting credentials for user "dev" failed: exec: process returned 1' in done.stderr
    assert hard.request_log.snapshot() == []  # nothing was sent without the credentials


def test_verify_stops_on_an_exec_the_server_refuses(hard, kc: str) -> None:  # noqa: ANN001
    """403 on exec is a permission problem, not a finding about the pods (issue 25): exit 1, the server's words."""
    hard.fault("fail-requests", path="/api/v1/namespaces/hard/pods/web-0/exec", status=403, count=50,
               message="pods \"web-0\" is forbidden: exec denied (test 403)")
    try:
        runs = [run_cli(["verify", "env", "web", "-g", "0", "--live"], kubeconfig=kc),
                run_cli(["verify", "nccl", "web", "-g", "0"], kubeconfig=kc)]
    finally:
        hard.apiserver.fail_rules.clear()
    for r in runs:
        assert r.exit_code == 1, r.stdout + r.stderr
        assert r.stdout == ""
        _clean(r.stderr)
        assert "exec denied (test 403)" in r.stderr


@pytest.mark.parametrize("code", [500])
def test_verify_reports_exec_failures_in_words(hard, kc: str, code: int) -> None:  # noqa: ANN001
    hard.fault("fail-requests", path="/api/v1/namespaces/hard/pods/web-0/exec", status=code, count=50,
               message=f"pods \"web-0\" is forbidden: exec denied (test {code})")
    try:
        env = run_cli(["verify", "env", "web", "-g", "0", "--live"], kubeconfig=kc)
        nccl = run_cli(["verify", "nccl", "web", "-g", "0"], kubeconfig=kc)
    finally:
        hard.apiserver.fail_rules.clear()
    for r in (env, nccl):
        assert r.exit_code == 3, r.stdout + r.stderr
        for word in ("ApiError", "content-type", "{'", "Handshake status", "UPGRADE"):
            assert word not in r.stdout, r.stdout
        assert f"exec denied (test {code})" in r.stdout, r.stdout
    # only the pod whose exec fails is reported: concurrent execs do not disturb each other
    assert "web-0-1" not in [line.split()[2] for line in env.stdout.splitlines() if "FAIL" in line
                             and "live-env" in line]


@pytest.mark.parametrize("after_headers", [False, True])
def test_request_timeout_bounds_the_whole_call(hard, kc: str, proc, after_headers: bool) -> None:  # noqa: ANN001
    hard.fault("stall-requests", path="/apis/leaderworkerset.x-k8s.io", seconds=12, count=10,
               after_headers=after_headers)
    try:
        base = time.monotonic()
        proc(["version", "--client"])
        startup = time.monotonic() - base
        started = time.monotonic()
        done = proc(["list", "--request-timeout", "2s"], kubeconfig=kc)
        elapsed = time.monotonic() - started
    finally:
        hard.apiserver.stall_rules.clear()
    assert done.returncode == 1
    _clean(done.stderr)
    assert "timed out" in done.stderr and "raise --request-timeout" in done.stderr
    assert elapsed < 2 + startup + 2.5, (elapsed, startup)  # one attempt, not four


def test_tls_server_without_its_ca_and_https_spoken_as_http() -> None:
    from conftest import start_sandbox

    sb = start_sandbox(tls=True, plugins=())
    try:
        r = run_cli(["list", "-s", sb.url, "--token", sb.admin_token], kubeconfig="/nonexistent")
        assert r.exit_code == 1
        _clean(r.stderr)
        assert "the server's certificate is not trusted (self-signed certificate); check --certificate-authority" \
            in r.stderr
        r = run_cli(["list", "-s", sb.url.replace("https://", "http://"), "--token", sb.admin_token],
                    kubeconfig="/nonexistent")
        assert r.exit_code == 1
        _clean(r.stderr)
        assert "http:// or https://" in r.stderr
        ok = run_cli(["list", "-s", sb.url.split("://", 1)[1], "--token", sb.admin_token,
                      "--certificate-authority", sb.ca_file], kubeconfig="/nonexistent")
        assert ok.exit_code == 0, ok.stderr  # no scheme + a CA: https, as kubectl does
    finally:
        sb.stop()


def test_an_exec_the_server_never_answers_is_bounded(hard, kc: str) -> None:  # noqa: ANN001
    hard.fault("stall-requests", path="/api/v1/namespaces/hard/pods/web-0/exec", seconds=20, count=20)
    try:
        started = time.monotonic()
        r = run_cli(["verify", "env", "web", "-g", "0", "--live", "--timeout", "2s"], kubeconfig=kc)
        elapsed = time.monotonic() - started
        started = time.monotonic()
        n = run_cli(["verify", "nccl", "web", "-g", "0", "--timeout", "2s", "--request-timeout", "2s"],
                    kubeconfig=kc)
        nccl_elapsed = time.monotonic() - started
    finally:
        hard.apiserver.stall_rules.clear()
    assert r.exit_code == 3, r.stdout + r.stderr
    assert "did not answer in time" in r.stdout
    assert elapsed < 15, elapsed  # each exec attempt gives up after its 2 s, not after the server's 20 s
    assert n.exit_code == 3 and "did not answer in time" in n.stdout, n.stdout
    assert nccl_elapsed < 15, nccl_elapsed


def test_request_timeout_cuts_a_server_that_trickles_its_answer(tmp_path: Path) -> None:
    """Each read gets a byte in time, so only a bound on the whole call ends it."""
    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{")
        for _ in range(199):
            if stop.wait(0.3):
                break
            conn.sendall(b" ")

    with tcp_server(trickle) as port:
        started = time.monotonic()
        r = run_cli(["list", "-s", f"http://127.0.0.1:{port}", "--token", "t",
                     "--request-timeout", "2s"], kubeconfig=_empty_kubeconfig(tmp_path))
        elapsed = time.monotonic() - started
    assert r.exit_code == 1
    _clean(r.stderr)
    assert "timed out" in r.stderr
    assert elapsed < 6, elapsed
