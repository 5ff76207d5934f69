"""pods/exec over WebSocket, answered like a real kubelet behind kube-apiserver.

The command runs for real as a local process (argv, never a shell) with the container's environment,
inside the pod's network namespace when one exists. Framing follows the ``channel.k8s.io`` family:
every binary frame starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize,
255 = v5 close signal). Frame order matches golden/exec: an empty stdout frame, output, the status on
channel 3, then a 1000 close.

"Image capability": annotation ``sandbox.kubectl-lws.dev/binaries`` (``"sh,bash"``, or a JSON object
``{"<container>": "sh,cat"}``) limits which programs the container has: PATH becomes a private directory
of symlinks to only those host binaries. Without it PATH is the standard container PATH over the host.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import shutil
import signal
import struct
import termios
from typing import Any, Callable

from aiohttp import WSMsgType, web

from .. import podconfig

BINARIES_ANNOTATION = "sandbox.kubectl-lws.dev/binaries"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Preference order: v5 first even when the client lists another first (as kube-apiserver does).
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
_KUBE_SERVICE_ENV = [
    ("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("KUBERNETES_SERVICE_PORT", "443"),
    ("KUBERNETES_SERVICE_PORT_HTTPS", "443"), ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
    ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"), ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
    ("KUBERNETES_PORT_443_TCP_PORT", "443"), ("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"),
]
_FIELD_RE = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_VAR_RE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def choose_protocol(header: str | None) -> str | None:
    """The subprotocol to answer with: the best we support among those offered."""
    offered = {p.strip() for p in (header or "").split(",") if p.strip()}
    for proto in PROTOCOLS:
        if proto in offered:
            return proto
    return None


def _container(pod: dict, name: str) -> dict:
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if c.get("name") == name:
            return c
    return {}


def _field_ref(pod: dict, path: str) -> str:
    meta = pod.get("metadata") or {}
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"), "metadata.uid": meta.get("uid"),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", "default"),
        "status.podIP": (pod.get("status") or {}).get("podIP"), "status.hostIP": (pod.get("status") or {}).get("hostIP"),
        "status.podIPs": (pod.get("status") or {}).get("podIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    m = _FIELD_RE.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        d = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(d.items()))
    return ""


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known vars are substituted, ``$$`` escapes, unknown refs stay."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR_RE.sub(sub, value)


def container_env(pod: dict, container: str, path: str = DEFAULT_PATH,
                  lookup: "podconfig.Lookup | None" = None) -> dict[str, str]:
    """The env a process in the container sees, in the golden order: PATH, HOME, HOSTNAME, the
    KUBERNETES_* service vars, then ``envFrom`` and the pod spec's env resolved (later entries override
    earlier ones). ``lookup`` reads ConfigMaps and Secrets; without it their values are placeholders."""
    meta = pod.get("metadata") or {}
    env: dict[str, str] = {"PATH": path, "HOME": "/root",
                           "HOSTNAME": (pod.get("spec") or {}).get("hostname") or meta.get("name", "")}
    env.update(_KUBE_SERVICE_ENV)
    c = _container(pod, container)
    ns = meta.get("namespace") or "default"
    if lookup is not None:
        env.update(podconfig.env_from(c, ns, lookup)[0])
    for item in c.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        vf = item.get("valueFrom")
        if vf is None:
            val = expand(str(item.get("value", "")), env)
        elif "fieldRef" in vf:
            val = _field_ref(pod, (vf["fieldRef"] or {}).get("fieldPath", ""))
        elif "secretKeyRef" in vf or "configMapKeyRef" in vf:
            resource, ref = (("secrets", vf["secretKeyRef"]) if "secretKeyRef" in vf
                             else ("configmaps", vf["configMapKeyRef"]))
            ref = ref or {}
            found = podconfig.key_value(resource, ref, ns, lookup)[0] if lookup is not None else None
            if found is None and lookup is not None and ref.get("optional"):
                continue  # an optional reference that is missing sets nothing
            val = found if found is not None else f"<{resource[:-1]} {ref.get('name')}/{ref.get('key')}>"
        elif "resourceFieldRef" in vf:
            val = "0"
        else:
            val = ""
        env.pop(name, None)  # an override moves to its last position, as printenv shows on a real node
        env[name] = val
    return env


def allowed_binaries(pod: dict, container: str) -> list[str] | None:
    """Binaries the container's "image" has, or None for all of the host's."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(BINARIES_ANNOTATION)
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            per = json.loads(raw)
        except ValueError:
            return None
        raw = per.get(container, per.get("*")) if isinstance(per, dict) else None
        if raw is None:
            return None
    return [b.strip() for b in str(raw).split(",") if b.strip()]


def build_bin_dir(directory: str, binaries: list[str]) -> str:
    """A PATH directory holding symlinks to exactly ``binaries`` (resolved on the host's standard PATH)."""
    os.makedirs(directory, exist_ok=True)
    for b in binaries:
        target = shutil.which(b, path=DEFAULT_PATH) or shutil.which(b)
        link = os.path.join(directory, os.path.basename(b))
        if target and not os.path.lexists(link):
            os.symlink(target, link)
    return directory


def success_status(protocol: str | None) -> dict:
    return {"metadata": {}, "status": "Success"} if protocol == PROTOCOLS[0] else {"status": "Success"}


def failure_status(protocol: str | None, message: str, *, reason: str | None = "InternalError",
                   causes: list[dict] | None = None, code: int | None = 500) -> dict:
    body: dict[str, Any] = {"metadata": {}, "status": "Failure", "message": message}
    if protocol != PROTOCOLS[0]:
        body.pop("metadata")
    if reason:
        body["reason"] = reason
    if causes is not None:
        body["details"] = {"causes": causes}
    if code:
        body["code"] = code
    return body


def exit_status(protocol: str | None, argv: list[str], rc: int) -> dict:
    """What a CRI kubelet reports for a non-zero exit (kubectl turns it into 'command terminated with exit
    code N' and exits N)."""
    return failure_status(
        protocol,
        f"command terminated with non-zero exit code: error executing command {_go_list(argv)}, exit code {rc}",
        reason="NonZeroExitCode", causes=[{"reason": "ExitCode", "message": str(rc)}], code=None)


def not_found_status(protocol: str | None, argv: list[str]) -> dict:
    """Kubelet-like failure for a missing binary (the OCI runtime's message)."""
    msg = (f"Internal error occurred: error executing command in container: failed to exec in container: "
           f"failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: "
           f"exec: \"{argv[0]}\": executable file not found in $PATH: unknown")
    return failure_status(protocol, msg, causes=[{"message": msg}], code=500)


def _go_list(argv: list[str]) -> str:
    return "[" + " ".join(argv) + "]"


def _frame(channel: int, data: bytes) -> bytes:
    return bytes([channel]) + data


async def serve_exec(request: web.Request, argv: list[str], env: dict[str, str], *, cwd: str,
                     wrap: Callable[[list[str]], list[str]] = lambda a: a, timeout: float = 300.0,
                     on_process: Callable[[asyncio.subprocess.Process | None], None] = lambda p: None
                     ) -> web.WebSocketResponse:
    """Upgrade, run ``argv`` (``wrap`` may prefix it, e.g. ``ip netns exec``), stream, report, close."""
    protocol = choose_protocol(request.headers.get("Sec-WebSocket-Protocol"))
    q = request.query
    want_stdin = q.get("stdin", "false").lower() in ("true", "1")
    want_stdout = q.get("stdout", "true").lower() in ("true", "1")
    want_stderr = q.get("stderr", "true").lower() in ("true", "1")
    want_tty = q.get("tty", "false").lower() in ("true", "1")
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), autoping=True, max_msg_size=0)
    await ws.prepare(request)
    await ws.send_bytes(_frame(1, b""))

    async def send_status(body: dict) -> None:
        if protocol in PROTOCOLS[:2]:
            await ws.send_bytes(_frame(3, json.dumps(body, separators=(",", ":")).encode()))
        elif body.get("status") != "Success":
            await ws.send_bytes(_frame(3, str(body.get("message", "")).encode()))

    exe = argv[0] if argv else ""
    resolved = exe if "/" in exe else shutil.which(exe, path=env.get("PATH", DEFAULT_PATH)) if exe else None
    if not resolved or not os.access(resolved, os.X_OK) or os.path.isdir(resolved):
        await send_status(not_found_status(protocol, argv or [""]))
        await ws.close(code=1000)
        return ws
    pty: _Pty | None = None
    try:
        if want_tty:  # a terminal: one merged output stream, resize on channel 4 (kubectl exec -it)
            pty = _Pty(asyncio.get_running_loop())
            env = {**env, "TERM": env.get("TERM", "xterm")}
            proc = await asyncio.create_subprocess_exec(
                *wrap([resolved, *argv[1:]]), env=env, cwd=cwd, start_new_session=True, preexec_fn=_take_ctty,
                stdin=pty.slave, stdout=pty.slave, stderr=pty.slave)
            pty.close_slave()
        else:
            proc = await asyncio.create_subprocess_exec(
                *wrap([resolved, *argv[1:]]), env=env, cwd=cwd, start_new_session=True,
                stdin=asyncio.subprocess.PIPE if want_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        if pty is not None:
            pty.close()
        await send_status(failure_status(protocol, f"Internal error occurred: error executing command in "
                                                   f"container: {e}", causes=[{"message": str(e)}]))
        await ws.close(code=1000)
        return ws
    on_process(proc)

    async def pump(stream: Any, channel: int, forward: bool) -> None:
        while stream is not None:
            chunk = await stream.read(32768)
            if not chunk:
                return
            if forward and not ws.closed:
                try:
                    await ws.send_bytes(_frame(channel, chunk))
                except (ConnectionError, RuntimeError):
                    forward = False  # client gone: keep draining so the process is not blocked on a pipe

    async def read_client() -> None:
        async for msg in ws:
            if not msg.data or msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            if msg.type == WSMsgType.TEXT:
                # The apiserver reads text frames like binary ones; the Python client sends string
                # stdin as text: the first character is the channel number.
                ch, data = ord(msg.data[0]), msg.data[1:].encode("utf-8")
            else:
                ch, data = msg.data[0], msg.data[1:]
            if pty is not None:
                if ch == 0:
                    pty.write(data)
                elif ch == 4:
                    pty.resize(data)
                elif ch == 255 and data[:1] == b"\x00":
                    pty.write(b"\x04")  # EOF on a terminal is ^D
            elif ch == 0 and proc.stdin is not None and not proc.stdin.is_closing():
                try:
                    proc.stdin.write(data)
                    await proc.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif ch == 255 and data[:1] == b"\x00" and proc.stdin is not None:
                proc.stdin.close()  # v5 close signal: EOF on stdin (unlike kwok)
        _kill(proc)  # the client went away: don't leave the command running

    reader = asyncio.ensure_future(read_client())
    if pty is not None:
        pumps = asyncio.gather(pump(pty, 1, want_stdout))
    else:
        pumps = asyncio.gather(pump(proc.stdout, 1, want_stdout), pump(proc.stderr, 2, want_stderr))
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(pumps), timeout)
        rc = await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        timed_out = True
        _kill(proc)
        rc = await proc.wait()
    except (ConnectionResetError, asyncio.CancelledError):
        _kill(proc)
        reader.cancel()
        raise
    finally:
        on_process(None)
        if pty is not None:
            pty.close()
    if not ws.closed:
        if timed_out:
            await send_status(failure_status(protocol, f"Internal error occurred: error executing command in "
                                                       f"container: timeout after {timeout:g}s"))
        elif rc == 0:
            await send_status(success_status(protocol))
        else:
            await send_status(exit_status(protocol, argv, rc if rc > 0 else 128 - rc))
        await ws.close(code=1000)
    reader.cancel()
    return ws


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _take_ctty() -> None:
    """In the child, after setsid: make the pty (fd 0) the controlling terminal, so job control works."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class _Pty:
    """A pseudo-terminal whose master side is read through the event loop (no thread per exec)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self._set_size(80, 24)
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._open = True
        loop.add_reader(self.master, self._on_readable)

    def close_slave(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 32768)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave end is closed (the process exited)
            data = b""
        if not data:
            self.loop.remove_reader(self.master)
        self._queue.put_nowait(data)

    async def read(self, _n: int) -> bytes:
        return await self._queue.get()

    def write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _set_size(self, width: int, height: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def resize(self, payload: bytes) -> None:
        """Channel 4 carries ``{"Width": w, "Height": h}``."""
        try:
            size = json.loads(payload)
            self._set_size(int(size.get("Width", 80)), int(size.get("Height", 24)))
        except (ValueError, TypeError, AttributeError, OSError):
            pass

    def close(self) -> None:
        self.close_slave()
        if self._open:
            self._open = False
            self.loop.remove_reader(self.master)
            os.close(self.master)
