"""``kubectl lws verify env|nccl``: can the pods of each group find and reach each other?

Static checks come from the pod specs (one LIST). Live checks exec fixed probe programs
(``kubectl_lws.probe``) into the pods, groups in parallel (bounded), and every exec is a session
kept in a registry so Ctrl-C or a timeout closes all of them; the probes also kill themselves after a
hard lifetime, so no listener survives the check.
"""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

import click

from kubectl_lws import errors
from kubectl_lws.options import LWS_NAME, DurationType, app_context, output_option

DEFAULT_CONCURRENCY = 16


def _groups_option(f: Callable) -> Callable:
    return click.option("-g", "--group", "groups", type=int, multiple=True, metavar="N",
                        help="Only these group indexes (repeatable).")(f)


def _concurrency_option(f: Callable) -> Callable:
    return click.option("--concurrency", type=click.IntRange(1, 256), default=DEFAULT_CONCURRENCY,
                        show_default=True, help="Groups probed at the same time.")(f)


@click.group("verify")
def verify() -> None:
    """Check injected env, NCCL reachability and the serving stack inside every group.

    \b
    Exit codes: 0 all checks pass (warnings allowed), 3 a check failed.
    """


# ---- shared plumbing ----------------------------------------------------------------------------

@dataclass
class Target:
    lws: Any
    groups: list
    pods: list[dict]


def _load(app: Any, name: str, groups: tuple[int, ...]) -> Target:
    from kubectl_lws.errors import UsageError
    from kubectl_lws.model.groups import group_pods, lws_view
    from kubectl_lws.model.keys import selector_for

    cluster = app.cluster
    obj = cluster.get_lws(name)
    view = lws_view(obj)
    # records without managedFields, decoded page by page: verify reads specs, never field owners
    pods = cluster.list_pods(view.namespace or cluster.namespace, label_selector=selector_for(view.name),
                             slim="pods:spec")
    all_groups = group_pods(pods, view.replicas)
    if groups:
        known = {g.index for g in all_groups}
        unknown = sorted(set(groups) - known)
        if unknown:
            raise UsageError(f"no group {', '.join(map(str, unknown))} in {view.name} "
                             f"(groups: 0..{max(known) if known else -1})")
        all_groups = [g for g in all_groups if g.index in set(groups)]
    return Target(view, all_groups, pods)


class Execs:
    """Every exec session of one run: counted, and closed all at once on Ctrl-C or timeout."""

    def __init__(self, cluster: Any, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.count = 0
        self._open: set[Any] = set()
        self._lock = threading.Lock()
        self.cancelled = threading.Event()
        self.denied: BaseException | None = None  # exec refused (403): the whole run stops with it

    def open(self, pod: str, argv: list[str], *, container: str | None = None, stdin: bool = False,
             timeout: float = 30.0) -> Any:
        if self.cancelled.is_set():
            raise InterruptedError("cancelled")
        with self._lock:
            self.count += 1
        try:
            session = self.cluster.exec_session(pod, argv, namespace=self.namespace, container=container,
                                                stdin=stdin, timeout=timeout)
        except errors.Forbidden as exc:
            # Not a finding about the pods: the user (--as) may not exec. Every other exec would be
            # refused the same way, so stop them all and say so once.
            with self._lock:
                self.denied = self.denied or exc
            self.close_all()
            raise InterruptedError("cancelled") from exc
        with self._lock:
            self._open.add(session)
        if self.cancelled.is_set():
            session.close()
            raise InterruptedError("cancelled")
        return session

    def done(self, session: Any) -> None:
        session.close()
        with self._lock:
            self._open.discard(session)

    def run(self, pod: str, argv: list[str], *, container: str | None = None, timeout: float = 30.0) -> Any:
        """Run to completion (as a session, so it can be cancelled) and return the ExecResult."""
        session = self.open(pod, argv, container=container, timeout=timeout)
        try:
            return session.finish(timeout)
        finally:
            self.done(session)

    def close_all(self) -> None:
        self.cancelled.set()
        with self._lock:
            sessions = list(self._open)
            self._open.clear()
        for session in sessions:
            session.close()


def _parallel(items: list, fn: Callable[[Any], Any], concurrency: int, execs: Execs) -> list:
    """Map ``fn`` over ``items`` with bounded threads; Ctrl-C closes every exec and re-raises."""
    if not items:
        return []
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="verify")
    futures = [pool.submit(fn, item) for item in items]
    try:
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        results = [f.result() for f in futures]
    except BaseException:
        execs.close_all()
        for f in futures:
            f.cancel()
        _raise_denied(execs)
        raise
    finally:
        pool.shutdown(wait=not execs.cancelled.is_set(), cancel_futures=True)
    _raise_denied(execs)
    return results


def _raise_denied(execs: Execs) -> None:
    """An exec the API server refused (403) ends the run with its message, exit 1, nothing reported."""
    denied = execs.denied
    if denied is not None:
        raise errors.Forbidden(str(denied), code=403, reason="Forbidden",
                               hint="--live needs `create` on pods/exec for the user you act as (--as); "
                                    "without --live only the checks from the pod specs run") from denied


def _why(exc: BaseException) -> str:
    """Our errors are already sentences; a broken or stalled exec stream gets one too (a user can act on
    "the stream was closed", not on ``BrokenPipeError: [Errno 32]``); anything else keeps its type."""
    from kubectl_lws.errors import LwsError

    if isinstance(exc, LwsError):
        return str(exc)
    if isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, EOFError)) or \
            type(exc).__name__ == "WebSocketConnectionClosedException":
        return ("the exec stream was closed by the API server or the kubelet before the probe finished; "
                "check the pod and run the check again")
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "WebSocketTimeoutException":
        return "the exec stream stalled (no answer from the pod in time); check the pod and run the check again"
    return f"{type(exc).__name__}: {exc}"


def _pod_running(pod: dict) -> str | None:
    """None when the pod can be exec'd into, else why not."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "is terminating"
    if phase != "Running":
        return f"is {phase}"
    return None


def _container_running(pod: dict, container: str) -> bool:
    status = pod.get("status") or {}
    for cs in list(status.get("containerStatuses") or []) + list(status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            return "running" in (cs.get("state") or {})
    return True  # no status recorded (thin kubelets): try anyway


def _finish(app: Any, report: dict, output: str, render: Callable[[dict, bool], None]) -> int:
    from kubectl_lws.render.output import emit

    if not emit(report, output):
        render(report, app.use_color())
    return 3 if report["summary"]["fail"] else 0


def _summary(groups: list[dict], execs: int, started: float) -> dict:
    """Counts by status; ``info`` counts the checks that were not evaluated (or do not apply)."""
    counts = {"PASS": 0, "INFO": 0, "WARN": 0, "FAIL": 0}
    for g in groups:
        for f in g["findings"]:
            counts[f["status"]] += 1
    return {"groups": len(groups), "failedGroups": sum(1 for g in groups if g["status"] == "FAIL"),
            "pass": counts["PASS"], "warn": counts["WARN"], "fail": counts["FAIL"], "info": counts["INFO"],
            "execs": execs, "seconds": round(time.monotonic() - started, 3)}


# ---- verify env ---------------------------------------------------------------------------------

@verify.command("env")
@click.argument("name", type=LWS_NAME, metavar="NAME")
@_groups_option
@click.option("--live", is_flag=True, help="Also exec into every container and read the running environment.")
@click.option("--show-values", is_flag=True, help="Print values of secret-looking variables (masked by default).")
@click.option("--also", "also", multiple=True, metavar="PREFIX",
              help="Another variable prefix that must be identical on all pods of a group (repeatable).")
@click.option("--timeout", type=DurationType(), default="20s", show_default=True, help="Per-exec timeout (--live).")
@_concurrency_option
@output_option(("table", "json", "yaml"), "table")
def verify_env(name: str, groups: tuple[int, ...], live: bool, show_values: bool, also: tuple[str, ...],
               timeout: float, concurrency: int, output: str) -> int:
    """Check LWS_* variables, group identity, TPU and distributed-runtime env of every group.

    \b
    Examples:
      kubectl lws verify env vllm
      kubectl lws verify env vllm -g 0 --live
      kubectl lws verify env vllm --also HF_ -o json
    """
    from kubectl_lws.model import envcheck
    from kubectl_lws.render.verify import render_env

    app = app_context()
    started = time.monotonic()
    target = _load(app, name, groups)
    view = target.lws
    execs = Execs(app.cluster, view.namespace or app.cluster.namespace)
    prefixes = tuple(also)

    def one(group: Any) -> dict:
        findings = envcheck.check_group(view, group, also_prefixes=prefixes)
        if live:
            findings += _live_env(view, group, execs, timeout, (*envcheck.RUNTIME_PREFIXES, *prefixes), prefixes)
        return {"index": group.index, "status": envcheck.worst(findings),
                "findings": [f.to_dict(show_values) for f in findings]}

    results = _parallel(target.groups, one, concurrency, execs)
    report = {"kind": "VerifyEnvReport", "lws": view.name, "namespace": view.namespace, "live": live,
              "groups": results, "summary": _summary(results, execs.count, started)}
    return _finish(app, report, output, render_env)


def _read_env(execs: Execs, pod: str, container: str, timeout: float) -> tuple[str, str, dict[str, str] | None, str]:
    """(tool, source, env or None, error) using python3, then bash, then env."""
    from kubectl_lws import probe

    for tool, argv in probe.env_argvs():
        result = execs.run(pod, argv, container=container, timeout=timeout)
        if probe.missing_binary(result.exit_code, result.error, result.stderr):
            continue
        if result.exit_code != 0:
            return tool, "", None, result.error or result.stderr.strip() or f"exit code {result.exit_code}"
        source, env = probe.parse_env_output(tool, result.stdout)
        return tool, source, env, ""
    return "", "", None, "the container has neither python3, bash nor env"


def _live_env(view: Any, group: Any, execs: Execs, timeout: float, prefixes: tuple[str, ...],
              strict: tuple[str, ...] = ()) -> list:
    from kubectl_lws.model import envcheck
    from kubectl_lws.model.groups import pod_name

    findings: list = []
    per_pod_extra: dict[str, dict[str, set[str]]] = {}
    jobs = []
    for pod in group.pods:
        why = _pod_running(pod)
        if why:
            findings.append(envcheck.Finding(group.index, "live-env", envcheck.WARN,
                                             f"pod {why}: cannot read its running environment", pod=pod_name(pod)))
            continue
        for kind, c in envcheck.pod_containers(pod):
            if not _container_running(pod, c.get("name", "")):
                state = "finished" if kind == "initContainer" else "not running"
                findings.append(envcheck.Finding(group.index, "live-env", envcheck.WARN,
                                                 f"{kind} {c.get('name')} is {state}: cannot read its "
                                                 "environment", pod=pod_name(pod), container=c.get("name", "")))
                continue
            jobs.append((pod, kind, c))

    def read(job: tuple) -> list:
        pod, kind, c = job
        try:
            tool, source, env, error = _read_env(execs, pod_name(pod), c.get("name", ""), timeout)
        except InterruptedError:
            return []
        except Exception as exc:  # noqa: BLE001 — one pod's exec failure must not hide the others
            return [envcheck.Finding(group.index, "live-env", envcheck.FAIL, f"exec failed: {exc}",
                                     pod=pod_name(pod), container=c.get("name", ""))]
        if env is None:
            return [envcheck.Finding(group.index, "live-env", envcheck.FAIL, f"cannot read the environment: {error}",
                                     pod=pod_name(pod), container=c.get("name", ""))]
        if kind == "container":
            spec_names = set(envcheck.spec_env(c))
            extra = {n: v for n, v in envcheck.live_runtime_vars(env, prefixes).items() if n not in spec_names}
            bucket = per_pod_extra.setdefault(pod_name(pod), {})
            for n, vals in extra.items():
                bucket.setdefault(n, set()).update(vals)
        return envcheck.check_live_container(view, pod, c, env, group.index, f"{source} via {tool}")

    results = _parallel(jobs, read, max(1, len(jobs)), execs) if jobs else []
    for items in results:
        findings += items
    if any(per_pod_extra.values()):
        for pod in group.pods:
            per_pod_extra.setdefault(pod_name(pod), {})
        findings += envcheck.consistency(per_pod_extra, group.index, "live-runtime-env",
                                         "set by the image or entrypoint, not the spec", strict)
    elif jobs:
        findings.append(envcheck.Finding(group.index, "live-runtime-env", envcheck.PASS, "no runtime variables "
                                         "beyond the spec's in the running processes"))
    return findings


# ---- verify nccl --------------------------------------------------------------------------------

@verify.command("nccl")
@click.argument("name", type=LWS_NAME, metavar="NAME")
@_groups_option
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Listener port (0: a free port chosen in the leader); with --no-listener the port to test.")
@click.option("--mesh", is_flag=True, help="Every pod listens and connects to every other (N x N per group).")
@click.option("--no-listener", is_flag=True, help="Do not start listeners: connect to a port the workload serves.")
@click.option("--static", "static_only", is_flag=True, help="Only the checks from the pod specs (no exec).")
@click.option("--timeout", type=DurationType(), default="5s", show_default=True,
              help="Timeout of each DNS lookup and connection.")
@_concurrency_option
@output_option(("table", "json", "yaml"), "table")
def verify_nccl(name: str, groups: tuple[int, ...], port: int, mesh: bool, no_listener: bool, static_only: bool,
                timeout: float, concurrency: int, output: str) -> int:
    """Check /dev/shm, NCCL_SOCKET_IFNAME, DNS and TCP reachability inside every group.

    \b
    Examples:
      kubectl lws verify nccl vllm
      kubectl lws verify nccl vllm --mesh -g 0
      kubectl lws verify nccl vllm --no-listener --port 6379
    """
    from kubectl_lws.errors import UsageError
    from kubectl_lws.model import envcheck, ncclcheck
    from kubectl_lws.render.verify import render_nccl

    if no_listener and not port:
        raise UsageError("--no-listener needs --port (the port the workload already serves, e.g. 6379 or 29500)")
    app = app_context()
    started = time.monotonic()
    target = _load(app, name, groups)
    view = target.lws
    execs = Execs(app.cluster, view.namespace or app.cluster.namespace)
    opts = NcclOptions(port=port, mesh=mesh, listener=not no_listener, timeout=max(0.5, timeout))

    def one(group: Any) -> dict:
        findings = ncclcheck.check_group_static(group)
        live: dict = {}
        if not static_only and group.pods:
            try:
                live = _probe_group(view, group, execs, opts)
            except InterruptedError:
                live = {"findings": []}
            except Exception as exc:  # noqa: BLE001 — one group's transport failure must not hide the others
                if execs.cancelled.is_set():
                    raise
                live = {"findings": [envcheck.Finding(group.index, "probe", envcheck.FAIL,
                                                      f"probing the group failed: {_why(exc)}")]}
            findings += live.pop("findings")
        return {"index": group.index, "status": envcheck.worst(findings),
                "findings": [f.to_dict(False) for f in findings], **live}

    results = _parallel(target.groups, one, concurrency, execs)
    report = {"kind": "VerifyNcclReport", "lws": view.name, "namespace": view.namespace, "mesh": mesh,
              "listener": not no_listener, "port": port or None, "groups": results,
              "summary": _summary(results, execs.count, started)}
    return _finish(app, report, output, render_nccl)


@dataclass
class NcclOptions:
    port: int
    mesh: bool
    listener: bool
    timeout: float
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def lifetime(self) -> float:
        """How long a probe may live at most (its own alarm kills it after that)."""
        return self.timeout * 2 + 10

    def params(self, mode: str, leader: str, **extra: Any) -> dict:
        return {"mode": mode, "leader": leader, "port": self.port, "timeout": self.timeout,
                "dns_timeout": self.timeout, "lifetime": self.lifetime, "nonce": self.nonce, **extra}


class _Probe:
    """One pod's probe session: which tool it runs with and what it printed."""

    def __init__(self, pod: dict) -> None:
        self.pod = pod
        self.tool = ""
        self.session: Any = None
        self.records: list[dict] = []
        self.error = ""


def _leader_address(view: Any, group: Any, pod: dict) -> str:
    from kubectl_lws.model import envcheck
    from kubectl_lws.model.groups import default_container

    cname = default_container(pod)
    for _, c in envcheck.pod_containers(pod):
        if c.get("name") == cname:
            value = envcheck.spec_env(c).get("LWS_LEADER_ADDRESS")
            if value is not None and value.value:
                return value.value
    sub = (pod.get("spec") or {}).get("subdomain") or envcheck.expected_subdomain(view, group.index)
    return envcheck.expected_leader_address(view.name, group.index, sub, view.namespace)


def _start(execs: Execs, view: Any, group: Any, probe_state: _Probe, opts: NcclOptions, mode: str,
           targets: list | None, stdin: bool, expect: int = 0) -> None:
    """Start the probe with python3, else bash; stream mode keeps the session open."""
    from kubectl_lws import probe
    from kubectl_lws.model.groups import default_container, pod_name
    from kubectl_lws.model.ncclcheck import parse_probe_output

    pod = probe_state.pod
    name = pod_name(pod)
    leader_addr = _leader_address(view, group, pod)
    params = opts.params(mode, leader_addr, targets=targets or [], expect=expect, me=name)
    exec_timeout = opts.lifetime + 5
    container = default_container(pod)
    for tool, argv in (("python3", probe.python_argv(params)), ("bash", probe.bash_argv(params))):
        if tool == "python3" and mode in ("listen", "mesh"):
            stdin = True
            argv = probe.python_argv({**params, "stdin": True})
        session = execs.open(name, argv, container=container, stdin=stdin and tool == "python3",
                             timeout=exec_timeout)
        if mode in ("listen", "mesh") and tool == "python3":
            lines = []
            deadline = time.monotonic() + opts.timeout + 10
            while time.monotonic() < deadline:
                line = session.readline(max(0.1, deadline - time.monotonic()))
                if line is None:
                    break
                lines.append(line)
                recs = parse_probe_output(line)
                if recs and recs[0].get("t") in ("listening", "error"):
                    break
            probe_state.records = parse_probe_output("\n".join(lines))
            if probe_state.records:
                probe_state.tool, probe_state.session = tool, session
                return
            result = session.finish(2)
            execs.done(session)
            if probe.missing_binary(result.exit_code, result.error, result.stderr):
                continue
            probe_state.error = result.error or result.stderr.strip() or "the probe printed nothing"
            return
        try:
            result = session.finish(exec_timeout)
        finally:
            execs.done(session)
        if probe.missing_binary(result.exit_code, result.error, result.stderr):
            continue
        probe_state.tool = tool
        probe_state.records = parse_probe_output(result.stdout)
        if not probe_state.records:
            probe_state.error = (result.error or result.stderr.strip() or "the probe printed nothing")[:300]
        return
    probe_state.error = "cannot probe: the container has neither python3 nor bash"


def _read_connects(p: _Probe, count: int, timeout: float) -> None:
    """Read a mesh probe's stdout until its ``count`` connect records arrived (or ``timeout``)."""
    from kubectl_lws.model.ncclcheck import parse_probe_output, records

    deadline = time.monotonic() + timeout
    while p.session is not None and len(records(p.records, "connect")) < count and time.monotonic() < deadline:
        line = p.session.readline(max(0.05, deadline - time.monotonic()))
        if line is None:
            return
        p.records += parse_probe_output(line)


def _finish_session(execs: Execs, p: _Probe, timeout: float, done: bool = True) -> None:
    """Tell the listener to stop waiting (every peer has connected or given up), collect, close."""
    from kubectl_lws.model.ncclcheck import parse_probe_output

    if p.session is None:
        return
    try:
        if done:
            try:
                p.session.write("done\n")
            except Exception:  # noqa: BLE001 — the probe already ended
                pass
        result = p.session.finish(timeout)
        p.records += parse_probe_output(result.stdout)
    finally:
        execs.done(p.session)
        p.session = None


def _threads(items: list, fn: Callable[[Any], None]) -> None:
    """Run ``fn`` on every item at once (one group's pods) and wait; exceptions stay per item."""
    errors: list[BaseException] = []

    def wrap(item: Any) -> None:
        try:
            fn(item)
        except BaseException as exc:  # noqa: BLE001 — reported by the caller through the probe state
            errors.append(exc)
            if isinstance(item, _Probe) and not item.error:
                item.error = f"exec failed: {exc}"

    threads = [threading.Thread(target=wrap, args=(item,), daemon=True) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if any(isinstance(e, InterruptedError) for e in errors):
        raise InterruptedError("cancelled")


def _probe_group(view: Any, group: Any, execs: Execs, opts: NcclOptions) -> dict:
    from kubectl_lws.model import envcheck, ncclcheck
    from kubectl_lws.model.groups import pod_name

    F = envcheck.Finding
    gi = group.index
    findings: list = []
    leader = group.leader
    status = (leader or {}).get("status") or {}
    leader_ip = [i.get("ip") for i in status.get("podIPs") or [] if i.get("ip")] or status.get("podIP")
    probes: list[_Probe] = []
    for pod in group.pods:
        why = _pod_running(pod)
        if why:
            findings.append(F(gi, "probe", envcheck.FAIL, f"pod {why}: cannot probe it", pod=pod_name(pod)))
        else:
            probes.append(_Probe(pod))
    by_name = {pod_name(p.pod): p for p in probes}
    leader_probe = by_name.get(pod_name(leader)) if leader else None
    workers = [p for p in probes if p is not leader_probe]
    pairs: list[dict] = []
    matrix: dict[str, dict[str, str]] | None = None
    names = [pod_name(p) for p in group.pods]
    untested = False

    if opts.mesh and opts.listener:
        _threads(probes, lambda p: _start(execs, view, group, p, opts, "mesh", None, True, expect=len(probes) - 1))
        listening = {}
        for p in probes:
            rec = ncclcheck.first(p.records, "listening")
            if rec:
                addr = rec.get("addr")
                if not addr or addr == "0.0.0.0":
                    addr = (p.pod.get("status") or {}).get("podIP") or addr
                listening[pod_name(p.pod)] = (addr, rec.get("port"))
        for p in probes:
            if p.session is None:
                continue
            targets = [[n, a, port] for n, (a, port) in listening.items() if n != pod_name(p.pod)]
            try:
                p.session.write(__import__("json").dumps(targets) + "\n")
            except Exception as exc:  # noqa: BLE001
                p.error = f"cannot send targets: {exc}"
        live = [p for p in probes if p.session is not None]
        _threads(live, lambda p: _read_connects(p, len(listening) - (pod_name(p.pod) in listening),
                                                opts.timeout * 2 + 5))
        _threads(live, lambda p: _finish_session(execs, p, 5))
    elif opts.mesh:
        def mesh_connect(p: _Probe) -> None:
            targets = [[pod_name(q.pod), (q.pod.get("status") or {}).get("podIP"), opts.port]
                       for q in probes if q is not p]
            _start(execs, view, group, p, opts, "connect", targets, False)
        _threads(probes, mesh_connect)
    else:
        if leader_probe is not None and opts.listener and workers:
            _start(execs, view, group, leader_probe, opts, "listen", None, False, expect=len(workers))
        elif leader_probe is not None:
            _start(execs, view, group, leader_probe, opts, "info", None, False)
        port = opts.port
        rec = ncclcheck.first(leader_probe.records, "listening") if leader_probe else None
        listen_error = ncclcheck.first(leader_probe.records, "error") if leader_probe else None
        if opts.listener and workers:
            port = rec.get("port") if rec else None
            if listen_error and leader_probe is not None and leader_probe.tool == "bash":
                untested = True
                findings.append(F(gi, "listener", envcheck.WARN, "reachability not tested: the leader has no "
                                  "python3, so no listener can run; use --no-listener --port P against a port "
                                  "the workload serves", pod=pod_name(leader)))
            elif listen_error:
                text = listen_error.get("error", "listener failed")
                if "in use" in text:
                    text += " (the workload serves it? test it with --no-listener --port P)"
                findings.append(F(gi, "listener", envcheck.FAIL, text, pod=pod_name(leader)))
            elif rec:
                findings.append(F(gi, "listener", envcheck.PASS, f"listening on {rec.get('addr')}:{port}",
                                  pod=pod_name(leader)))
        if port:
            def connect(p: _Probe) -> None:
                target = _leader_address(view, group, p.pod)
                _start(execs, view, group, p, opts, "connect", [["leader", target, port]], False)
            _threads(workers, connect)
        else:
            _threads(workers, lambda p: _start(execs, view, group, p, opts, "info", None, False))
        if leader_probe is not None and leader_probe.session is not None:
            # Every worker has connected or given up: the listener ends as soon as it has them all.
            _finish_session(execs, leader_probe, 5)

    # DNS and interfaces, per pod
    for p in probes:
        if p.error and not p.records:
            findings.append(F(gi, "probe", envcheck.FAIL, p.error, pod=pod_name(p.pod)))
            continue
        info = ncclcheck.first(p.records, "info")
        findings += ncclcheck.check_info(gi, p.pod, info, leader_ip)
        if info and info.get("tool") == "bash":
            findings.append(F(gi, "probe", envcheck.WARN, "no python3: probed with bash (/dev/tcp); interface "
                              "addresses unknown, no listener possible", pod=pod_name(p.pod)))

    # reachability
    accepted = {}
    for p in probes:
        acc = ncclcheck.first(p.records, "accepted")
        if acc is not None:
            accepted[pod_name(p.pod)] = {peer.get("label") for peer in acc.get("peers") or []}
    for p in probes:
        for rec in ncclcheck.records(p.records, "connect"):
            src = pod_name(p.pod)
            dst = pod_name(leader) if rec.get("label") == "leader" and leader else rec.get("label")
            f = ncclcheck.connect_finding(gi, src, {**rec, "label": dst})
            if f.status == envcheck.PASS and dst in accepted and rec.get("label") not in accepted[dst] \
                    and src not in accepted[dst]:
                f = F(gi, "connect", envcheck.WARN, f.message + " but the listener never saw it (another "
                      "process on that port, or a proxy?)", pod=src, expected="ok", actual="unseen")
            findings.append(f)
            pairs.append({"from": src, "to": dst, "result": rec.get("result"), "ms": rec.get("ms"),
                          "error": rec.get("error"), "address": rec.get("addr")})
    if opts.mesh:
        matrix = {a: {b: ("-" if a == b else "?") for b in names} for a in names}
        for pair in pairs:
            if pair["from"] in matrix and pair["to"] in matrix[pair["from"]]:
                matrix[pair["from"]][pair["to"]] = "ok" if pair["result"] == "ok" else (pair["result"] or "error")
    size = max(view.size, len(names))  # a missing pod still counts: its pairs cannot work
    missing = [w for w in group.missing_workers(view.size)]
    if missing:
        leader_name = f"{view.name}-{gi}"
        findings.append(F(gi, "pods", envcheck.FAIL, "missing pods: " + ", ".join(
            leader_name if w == 0 else f"{leader_name}-{w}" for w in missing)))
    expected_pairs = size * (size - 1) if opts.mesh else max(0, size - 1)
    ok = sum(1 for pair in pairs if pair["result"] == "ok")
    if expected_pairs and len(pairs) < expected_pairs and not untested:
        findings.append(F(gi, "connect", envcheck.FAIL, f"only {len(pairs)} of {expected_pairs} connections "
                          "could be attempted (see the probe failures above)"))
    dns = [f for f in findings if f.check == "dns"]
    ifaces = [f for f in findings if f.check == "interface"]
    return {"findings": findings,
            "dns": {"ok": sum(1 for f in dns if f.status == envcheck.PASS), "total": len(group.pods)},
            "interface": {"ok": sum(1 for f in ifaces if f.status == envcheck.PASS), "total": len(group.pods)},
            "reachability": {"ok": ok, "total": expected_pairs},
            "pairs": pairs, **({"matrix": matrix} if matrix is not None else {})}


# ---- verify runtime -----------------------------------------------------------------------------

@verify.command("runtime")
@click.argument("name", type=LWS_NAME, metavar="NAME")
@_groups_option
@click.option("--live", is_flag=True, help="Also ask Ray and the server inside each leader (exec).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Serving port to probe with --live (default: the leader's --port, else the server's default).")
@click.option("--timeout", type=DurationType(), default="10s", show_default=True, help="Per-exec timeout (--live).")
@_concurrency_option
@output_option(("table", "json", "yaml"), "table")
def verify_runtime(name: str, groups: tuple[int, ...], live: bool, port: int | None, timeout: float,
                   concurrency: int, output: str) -> int:
    """Check that vLLM, SGLang and Ray are wired right in every group.

    \b
    Static (default, from the pod specs): TP x PP vs the group's GPUs, the workers' Ray
    address, --ray_cluster_size, the executor backend, SGLang's --nnodes/--node-rank/
    --dist-init-addr, the serving port and the Service aimed at it.
    --live: in each leader, `ray list nodes --format=json` (else `ray status`) and
    GET /health and /v1/models on the serving port.

    \b
    Examples:
      kubectl lws verify runtime vllm
      kubectl lws verify runtime vllm --live -g 0
      kubectl lws verify runtime sglang --live -o json
    """
    from kubectl_lws.model import runtimecheck as rc
    from kubectl_lws.render.runtime import render_runtime

    app = app_context()
    started = time.monotonic()
    target = _load(app, name, groups)
    view = target.lws
    ns = view.namespace or app.cluster.namespace
    notes: list = []
    try:
        services = app.cluster.list("services", ns)[0]
    except errors.Forbidden:
        services = []
        notes.append(rc.Finding(None, "service", rc.WARN, "cannot list Services (forbidden): the Service "
                                "targetPort check is skipped"))
    execs = Execs(app.cluster, ns)
    exec_timeout = max(1.0, timeout)

    def one(group: Any) -> dict:
        shape = rc.group_shape(view, group)
        findings = rc.check_group_static(view, group, services, shape)
        if live:
            try:
                findings += _live_runtime(view, group, shape, execs, exec_timeout, port)
            except InterruptedError:
                pass
            except errors.LwsError as exc:  # one group's exec failure must not hide the others
                if execs.cancelled.is_set():
                    raise
                findings.append(rc.Finding(group.index, "exec", rc.FAIL, f"exec into the leader failed: {exc}",
                                           template="leader"))
        return {"index": group.index, "status": rc.worst(findings), "findings": [f.to_dict() for f in findings]}

    if live:
        results = _parallel(target.groups, one, concurrency, execs)
    else:
        results = [one(g) for g in target.groups]  # pure CPU: threads would only add contention
    summary = _summary(results, execs.count, started)
    summary["warn"] += sum(1 for f in notes if f.status == rc.WARN)
    report = {"kind": "VerifyRuntimeReport", "lws": view.name, "namespace": view.namespace, "live": live,
              "notes": [f.to_dict() for f in notes], "groups": results, "summary": summary}
    return _finish(app, report, output, render_runtime)


def _run_fallbacks(execs: Execs, pod: str, container: str, candidates: list[tuple[str, list[str]]],
                   timeout: float) -> tuple[str, Any]:
    """Run the first candidate whose program exists; (tool, result) — tool "" when none exists."""
    from kubectl_lws import probe

    for tool, argv in candidates:
        result = execs.run(pod, argv, container=container, timeout=timeout)
        if probe.missing_binary(result.exit_code, result.error, result.stderr):
            continue
        return tool, result
    return "", None


def _live_runtime(view: Any, group: Any, shape: Any, execs: Execs, timeout: float, port: int | None) -> list:
    """Ray and the serving endpoint, asked from inside the group's leader."""
    from kubectl_lws import probe_runtime
    from kubectl_lws.model import runtimecheck as rc

    gi = group.index
    leader = shape.leader
    if leader is None:
        return [rc.Finding(gi, "live", rc.FAIL, "the group has no leader pod to ask", template="leader")]
    why = _pod_running(leader.pod)
    if why:
        return [rc.Finding(gi, "live", rc.FAIL, f"leader {why}: cannot ask Ray or the server", template="leader",
                           pod=leader.name)]
    container = leader.container.get("name") or None
    out: list = []
    if shape.ray:
        tool, result = _run_fallbacks(execs, leader.name, container,
                                      [("list", probe_runtime.RAY_LIST)], timeout)
        ray_view, error = None, ""
        if result is not None and result.exit_code == 0:
            ray_view = rc.parse_ray_list_nodes(result.stdout)
        if ray_view is None:
            if result is not None and result.exit_code is None and "timed out" in (result.error or ""):
                error = f"ray list nodes did not answer in {timeout:g}s"
            else:
                tool, result = _run_fallbacks(execs, leader.name, container, [("status", probe_runtime.RAY_STATUS)],
                                              timeout)
                if result is None:
                    error = "the leader has no ray command"
                elif result.exit_code == 0:
                    ray_view = rc.parse_ray_status(result.stdout)
                    error = "" if ray_view else "ray status printed no node status"
                elif result.exit_code is None and "timed out" in (result.error or ""):
                    error = f"ray status did not answer in {timeout:g}s"
                else:
                    text = (result.stderr or result.stdout or result.error or "").strip().splitlines()
                    error = (text[-1] if text else f"exit code {result.exit_code}")[:200]
        out += rc.check_ray_live(view, group, shape, ray_view, error, leader.name)
    ep = rc.serving_endpoint(shape)
    serve_port = port or (ep.port if ep else None)
    if serve_port is None:
        out.append(rc.Finding(gi, "health", rc.INFO, "no recognised server in the leader: give --port to probe "
                              "one", template="leader", pod=leader.name, flag="--port"))
        return out
    health, models = (ep.health, ep.models) if ep else ("/health", "/v1/models")
    host = ep.host if ep and ep.host and ep.host not in ("0.0.0.0", "::", "[::]", "localhost") else "127.0.0.1"
    tool, result = _run_fallbacks(execs, leader.name, container,
                                  probe_runtime.http_argvs(host, serve_port, [health] + ([models] if models else []),
                                                           timeout),
                                  timeout * 2 + 5)
    if result is None:
        out.append(rc.Finding(gi, "health", rc.FAIL, "cannot probe: the leader has neither python3 nor bash",
                              template="leader", pod=leader.name, flag="--port"))
        return out
    records = probe_runtime.parse_http_output(result.stdout)
    if not records:
        err = result.error or result.stderr.strip() or f"exit code {result.exit_code}"
        out.append(rc.Finding(gi, "health", rc.FAIL, f"the HTTP probe ({tool}) printed nothing: {err[:200]}",
                              template="leader", pod=leader.name, flag="--port"))
        return out
    out += rc.check_http_live(gi, leader.name, serve_port, records, ep.model if ep else None, health, models)
    return out
