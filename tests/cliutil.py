"""Run the real CLI in-process (click's runner) and read its exit code, stdout and stderr."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from click.testing import CliRunner

from kubectl_lws.cli import cli
from kubectl_lws.options import AppContext


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None, input: str | None = None,
            kubeconfig: str | None = None) -> CliResult:
    """Invoke ``kubectl lws ARGS`` through the real root command and its error mapping."""
    full_env = {"NO_COLOR": "1", "KUBECONFIG": kubeconfig or os.environ.get("KUBECONFIG", "")}
    if env:
        full_env.update(env)
    runner = CliRunner()
    app = AppContext()
    try:
        result = runner.invoke(cli, list(args), env=full_env, input=input, prog_name="kubectl lws", obj=app)
    finally:
        app.close()  # in one process, every command's kept-alive sockets would pile up past select()'s 1024
    return CliResult(result.exit_code, result.stdout, result.stderr)


def sandbox_http(sb, method: str, path: str, body: object | None = None,
                 content_type: str = "application/json") -> dict:
    """An admin request to a sandbox, for test set-up only (the product goes through Cluster)."""
    import json
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(sb.url + path, data=data, method=method,
                                 headers={"Content-Type": content_type,
                                          "Authorization": f"Bearer {sb.admin_token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def requests_made(sb, fn):
    """Run ``fn`` and return its result with the (method, path, query) of every request it made."""
    sb.request_log.clear()
    result = fn()
    return result, [(m, p, q) for m, p, q, *_ in sb.request_log.entries]


def wait_for(predicate, timeout: float = 20.0, step: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail the test with its last value."""
    import time
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


def signal_and_wait(proc, sig: int, *, settle: float = 0.0, timeout: float = 10.0) -> tuple[int, str, float]:
    """Wait ``settle`` s, send ``sig`` to a running CLI subprocess and wait for it to end; return its exit
    code, stderr and how long it took to go after the signal (killed past ``timeout``)."""
    import time
    time.sleep(settle)
    assert proc.poll() is None, proc.communicate()[1]
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err, time.monotonic() - started


def run_on_pty(args: list[str], *, env: dict[str, str] | None = None, interrupt_on: str | None = None,
               limit: float = 30.0) -> tuple[int, str]:
    """Run the CLI in a subprocess on a pseudo-terminal (20 x 100, xterm, colour allowed unless ``env``
    says otherwise); ``interrupt_on``: send SIGINT once this text has been drawn. Returns code and screen."""
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    if env is None:
        env = {**os.environ, "LINES": "20", "COLUMNS": "100", "TERM": "xterm"}
        env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    started = time.monotonic()
    sent = False
    # poll, not select: a long test session may hold more than 1,024 descriptors, and select() refuses those
    poller = select.poll()
    poller.register(master, select.POLLIN)
    try:
        while time.monotonic() - started < limit:
            if interrupt_on is not None and not sent and interrupt_on in out.decode("utf-8", "replace"):
                proc.send_signal(signal.SIGINT)
                sent = True
            ready = poller.poll(100)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode("utf-8", "replace")


def running_processes() -> list[tuple[str, list[bytes]]]:
    """(pid, argv) of every process on this machine that can still be read, for "nothing was left
    running" checks."""
    from pathlib import Path

    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            out.append((pid, Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")))
        except OSError:
            continue
    return out


@contextlib.contextmanager
def tcp_server(answer: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """A loopback TCP server (its port) that hands every connection to ``answer(conn, stop)``, one at a
    time, and closes it afterwards; stopped on exit."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                answer(conn, stop)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        srv.close()
