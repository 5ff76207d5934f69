"""``kubectl lws sandbox``: run a simulated cluster with LWS so every command can be tried without one.

``up`` serves it (foreground, or ``--detach`` into a background process with a pid file next to the
kubeconfig), ``down`` stops a detached one, ``fault`` applies a fault through the sandbox's admin API,
and ``demo`` runs the demo scenario in-process and prints what ``list``/``status`` show.

Authentication: the written kubeconfig carries an admin bearer token. kubectl never sends a bearer token
over plain HTTP, so a plain-HTTP sandbox (the default) treats a request *without* credentials as admin,
like kube-apiserver's old insecure port; a wrong token still gets 401. ``up --tls`` serves HTTPS with a
self-signed certificate (its CA goes into the kubeconfig), and then a request without a token gets 401.
The sandbox listens on 127.0.0.1 only.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import click

from kubectl_lws.errors import LwsError

DEFAULT_KUBECONFIG = "~/.kube/kubectl-lws-sandbox.yaml"
EXIT_INTERRUPTED = 130


def _kubeconfig_path(value: str | None) -> Path:
    return Path(value or DEFAULT_KUBECONFIG).expanduser()


def _pid_path(kubeconfig: Path) -> Path:
    return kubeconfig.with_name(kubeconfig.name + ".pid")


def _log_path(kubeconfig: Path) -> Path:
    return kubeconfig.with_name(kubeconfig.name + ".log")


def _say(message: str) -> None:
    click.echo(message, err=True)


def _export_line(path: Path) -> str:
    return f"export KUBECONFIG={path}"


def parse_token_specs(specs: tuple[str, ...] | list[str]) -> dict[str, dict]:
    """``--token TOKEN=USER[:VERBS[:RESOURCES[:NAMESPACES]]]`` (comma lists, ``*`` = all) into the
    sandbox's token table. Repeating a TOKEN adds a rule; ``TOKEN=USER`` alone has no rights at all
    (every request 403), ``TOKEN=USER:*`` all rights."""
    tokens: dict[str, dict] = {}
    for spec in specs:
        token, sep, rest = spec.partition("=")
        parts = rest.split(":") if sep else []
        if not token or not sep or not parts or not parts[0] or len(parts) > 4:
            raise click.UsageError(f"--token {spec!r}: expected TOKEN=USER[:VERBS[:RESOURCES[:NAMESPACES]]], "
                                   "e.g. viewer=jane:get,list,watch:pods,leaderworkersets:demo")
        user = parts[0]
        entry = tokens.setdefault(token, {"user": user, "rules": []})
        if entry["user"] != user:
            raise click.UsageError(f"--token {token} is given for two users ({entry['user']}, {user})")
        if len(parts) == 1:
            continue
        lists = [[x.strip() for x in p.split(",") if x.strip()] for p in parts[1:]]
        verbs = lists[0]
        resources = lists[1] if len(lists) > 1 else ["*"]
        if entry["rules"] is None:  # already all rights
            continue
        if verbs == ["*"] and resources == ["*"] and len(lists) < 3:
            entry["rules"] = None
            continue
        rule: dict[str, Any] = {"verbs": verbs, "resources": resources, "apiGroups": ["*"]}
        if len(lists) > 2:
            rule["namespaces"] = lists[2]
        entry["rules"].append(rule)
    return tokens


def _say_tokens(tokens: dict[str, dict]) -> None:
    for token, entry in tokens.items():
        rules = "all rights" if entry["rules"] is None else (
            "; ".join(f"{','.join(r['verbs'])} {','.join(r['resources'])}"
                      + (f" in {','.join(r['namespaces'])}" if r.get("namespaces") else "")
                      for r in entry["rules"]) or "no rights")
        _say(f"token {token}: user {entry['user']} ({rules}); use it with --token {token}")


def _start(port: int, speed: float, scenario: str | None, tls: bool = False,
           tokens: dict[str, dict] | None = None) -> Any:
    from kubectl_lws.sandbox.sandbox import Sandbox
    if scenario and not Path(scenario).exists() and scenario not in _builtin_scenarios():
        raise LwsError(f"no scenario named or at {scenario!r} (built-in: "
                                   f"{', '.join(_builtin_scenarios())}; or a YAML file path)")
    try:
        sb = Sandbox(port=port, speed=speed, tls=tls, tokens=tokens).start()
    except OSError as e:
        raise LwsError(f"cannot serve on 127.0.0.1:{port}: {e.strerror or e}") from None
    try:
        if scenario:
            _say(f"loading scenario {scenario} ...")
            sb.load_scenario(scenario)
    except Exception as e:  # bad YAML, an unsupported kind, a manifest the webhooks reject
        sb.stop()
        raise LwsError(f"cannot load scenario {scenario}: {' '.join(str(e).split())}") from None
    except BaseException:
        sb.stop()
        raise
    return sb


def _builtin_scenarios() -> list[str]:
    from kubectl_lws.sandbox import scenario as scenarios
    return sorted(p.stem for p in scenarios.SCENARIO_DIR.glob("*.yaml"))


@click.group("sandbox")
def sandbox() -> None:
    """Run a simulated Kubernetes cluster with the LWS controller (no real cluster needed).

    It listens on 127.0.0.1 only. Over plain HTTP (the default) a request without credentials is
    treated as admin, because kubectl sends no bearer token over plain HTTP; use `up --tls` to require
    the kubeconfig's token.

    \b
    Examples:
      kubectl lws sandbox demo
      kubectl lws sandbox up --scenario demo --detach && export KUBECONFIG=~/.kube/kubectl-lws-sandbox.yaml
      kubectl lws sandbox fault crash pod=demo/healthy-1-2 loop=true
      kubectl lws sandbox down
    """


@sandbox.command("up")
@click.option("--scenario", metavar="demo|golden|queues|runtime|FILE", default=None,
              help="Scenario to load: a built-in name (demo, golden, queues, runtime) or a YAML file.")
@click.option("--port", type=int, default=0, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--speed", type=float, default=1.0, show_default=True, help="Time factor for controller delays.")
@click.option("--kubeconfig", "kubeconfig", metavar="PATH", default=None,
              help=f"Where to write the kubeconfig (default {DEFAULT_KUBECONFIG}).")
@click.option("--detach", is_flag=True, help="Run in a background process (stop it with `sandbox down`).")
@click.option("--tls", is_flag=True, help="Serve HTTPS (self-signed, CA in the kubeconfig); then every request "
                                          "needs the kubeconfig's token. Without it, plain HTTP treats a request "
                                          "without credentials as admin.")
@click.option("--token", "token_specs", multiple=True, metavar="TOKEN=USER[:VERBS[:RESOURCES[:NAMESPACES]]]",
              help="Add a bearer token limited by a rule (repeatable; repeat a TOKEN to add rules), e.g. "
                   "viewer=jane:get,list,watch:pods,leaderworkersets. Use it with --token/--user, and "
                   "impersonate its user with --as.")
def up(scenario: str | None, port: int, speed: float, kubeconfig: str | None, detach: bool, tls: bool,
       token_specs: tuple[str, ...]) -> None:
    """Start the sandbox, write a kubeconfig and print the `export KUBECONFIG=...` line.

    Ctrl-C (or SIGTERM) stops it and removes everything it created (pod network namespaces, processes
    started by exec); leftovers of a run that was killed are removed at the next start.
    """
    from kubectl_lws.sandbox.runtime.netns import pid_alive
    path = _kubeconfig_path(kubeconfig)
    pid_file = _pid_path(path)
    if pid_file.exists():
        try:
            old = int(pid_file.read_text().strip())
        except ValueError:
            old = 0
        if old and old != os.getpid() and pid_alive(old):
            raise LwsError(f"a detached sandbox (pid {old}) already uses {path}; run "
                                       f"`kubectl lws sandbox down --kubeconfig {path}` first")
        if old != os.getpid():
            pid_file.unlink(missing_ok=True)
    tokens = parse_token_specs(token_specs)
    if detach:
        _up_detached(path, scenario, port, speed, tls, token_specs)
        _say_tokens(tokens)
        return
    sb = _start(port, speed, scenario, tls, tokens)
    _say_tokens(tokens)
    try:
        with _stop_on_signals():
            sb.write_kubeconfig(path)
            _say(f"sandbox API server at {sb.url} (speed x{speed}); kubeconfig {path}")
            click.echo(_export_line(path))
            sys.stdout.flush()
            _say("press Ctrl-C to stop")
            while True:
                time.sleep(0.5)
    finally:
        sb.stop()
        _forget_kubeconfig(path, sb.url)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM (`sandbox down`) into a clean stop with exit 0, and let Ctrl-C propagate (exit 130).

    Installed before the `export KUBECONFIG=...` line is printed: whoever reads that line may signal us
    at once."""
    terminated: list[int] = []

    def on_term(signum: int, _frame: Any) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt:
        _say("stopping sandbox ...")
        if not terminated:
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _forget_kubeconfig(path: Path, url: str) -> None:
    """Remove the kubeconfig written for a sandbox that has stopped (its port and token are dead now),
    unless something else has rewritten it since."""
    try:
        if _server_and_token(path)[0] == url:
            path.unlink()
    except (OSError, ValueError, KeyError, StopIteration, TypeError, AttributeError):
        pass


def _up_detached(path: Path, scenario: str | None, port: int, speed: float, tls: bool = False,
                 token_specs: tuple[str, ...] = ()) -> None:
    """Start ``up`` in a new session and return once its kubeconfig answers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    args = [sys.executable, "-m", "kubectl_lws.sandbox", "up", "--kubeconfig", str(path), "--port", str(port),
            "--speed", str(speed)]
    if scenario:
        if not Path(scenario).exists() and scenario not in _builtin_scenarios():
            raise LwsError(f"no scenario named or at {scenario!r} (built-in: "
                                       f"{', '.join(_builtin_scenarios())}; or a YAML file path)")
        args += ["--scenario", str(Path(scenario).resolve()) if Path(scenario).exists() else scenario]
    if tls:
        args.append("--tls")
    for spec in token_specs:
        args += ["--token", spec]
    log = open(_log_path(path), "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    _pid_path(path).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _pid_path(path).unlink(missing_ok=True)
            lines = [ln for ln in _log_path(path).read_text(errors="replace").splitlines() if ln.strip()]
            why = f": {lines[-1].removeprefix('error: ')}" if lines else ""
            raise LwsError(f"the sandbox exited with code {proc.returncode}{why} (log: {_log_path(path)})")
        if path.exists():
            try:
                server, _token = _server_and_token(path)
                with urllib.request.urlopen(server + "/version", timeout=2, context=_ssl_context(path)):
                    break
            except (OSError, ValueError, KeyError, StopIteration, TypeError, AttributeError):
                pass  # not written completely yet: read it again
        time.sleep(0.1)
    else:
        proc.terminate()
        _pid_path(path).unlink(missing_ok=True)
        raise LwsError(f"the sandbox did not come up within 60s; see {_log_path(path)}")
    _say(f"sandbox running in the background (pid {proc.pid}); log {_log_path(path)}")
    click.echo(_export_line(path))


@sandbox.command("down")
@click.option("--kubeconfig", "kubeconfig", metavar="PATH", default=None,
              help=f"The detached sandbox's kubeconfig (default {DEFAULT_KUBECONFIG}).")
def down(kubeconfig: str | None) -> None:
    """Stop a sandbox started with `up --detach` and remove its kubeconfig."""
    from kubectl_lws.sandbox.runtime.netns import pid_alive
    path = _kubeconfig_path(kubeconfig)
    pid_file = _pid_path(path)
    if not pid_file.exists():
        raise LwsError(f"no detached sandbox found (no {pid_file})")
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid = 0
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while pid_alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            _say(f"sandbox pid {pid} did not stop in 20s; killed")
    pid_file.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    _say(f"sandbox stopped (pid {pid})")


def _kubeconfig_parts(path: Path) -> tuple[dict, dict]:
    """The current context's cluster and user entries of a sandbox kubeconfig."""
    import yaml
    cfg = yaml.safe_load(path.read_text()) or {}
    ctx_name = cfg.get("current-context")
    ctx = next(c["context"] for c in cfg.get("contexts", []) if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in cfg.get("clusters", []) if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in cfg.get("users", []) if u["name"] == ctx["user"])
    return cluster, user


def _server_and_token(path: Path) -> tuple[str, str]:
    cluster, user = _kubeconfig_parts(path)
    return cluster["server"], user.get("token", "")


def _ssl_context(path: Path) -> Any:
    """Trust the sandbox's self-signed CA (``up --tls``); None for plain HTTP."""
    import ssl
    cluster, _user = _kubeconfig_parts(path)
    if not str(cluster.get("server", "")).startswith("https"):
        return None
    return ssl.create_default_context(cafile=cluster.get("certificate-authority"))


def _coerce(value: str) -> Any:
    """KEY=VALUE values: JSON when it parses (numbers, true/false, lists), else the string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


@sandbox.command("fault")
@click.argument("name")
@click.argument("params", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--kubeconfig", "kubeconfig", metavar="PATH", default=None,
              help=f"The running sandbox's kubeconfig (default {DEFAULT_KUBECONFIG}).")
def fault(name: str, params: tuple[str, ...], kubeconfig: str | None) -> None:
    """Apply a fault to a running sandbox; prints the fault's result as JSON.

    Pods are NS/NAME (or a name unique across namespaces). Faults that can be undone take on=false.

    \b
    Faults:
      crash            pod=P [container=C] [loop=true] [exit_code=N]   crash once, or into CrashLoopBackOff
      stop-crash       pod=P [container=C]                             end a crash loop
      fail-readiness   pod=P [on=false]                                the pod's Ready condition turns False
      cut-network      pod=P [on=false]                                drop the pod's packets (needs root)
      cut-pair         pod_a=P pod_b=P [on=false]                      drop packets between two pods only
      node-not-ready   node=N [on=false]                               node Ready=False, its pods unready
      pause-controller [controller=lws|statefulset|scheduler|kubelet|gc] [on=false]
      slow-controller  factor=N                                        slow every controller down (1 = off)
      fail-requests    path=/PREFIX status=N [count=N] [method=M] [message=TEXT] [retry_after=S]
                                                                       the next N requests fail (429 + Retry-After)
      break-streams    [kind=all|watch|log|exec] [mode=reset|expire]   cut running streams (reset), or end
                                                                       watches with an in-stream 410 (expire)
      stall-exec       pod=P [on=false]                                exec into P opens, then stays silent
      restart-apiserver [down=SECONDS]                                 the API server goes away, comes back
                                                                       on the same address and token
      set-env          pod=P var=NAME value=V [container=C]            tamper a pod's env in the store
      controller-down  [on=false]                                      lws-controller-manager scaled to 0
      webhook-cert-expired [on=false] [days_ago=N]                     the webhooks' caBundle has expired
      webhook-failure-policy policy=Ignore|Fail                        the LWS webhooks' failurePolicy
      stale-lease      [on=false] [minutes=N]                          the controller's Lease stops renewing

    \b
    Example:
      kubectl lws sandbox fault fail-requests path=/api/v1/namespaces/demo/pods status=503 count=3
    """
    path = _kubeconfig_path(kubeconfig)
    if not path.exists():
        raise LwsError(f"no sandbox kubeconfig at {path}; start one with `kubectl lws sandbox up`")
    body: dict[str, Any] = {}
    for p in params:
        if "=" not in p:
            raise click.UsageError(f"fault parameter {p!r} is not KEY=VALUE")
        k, v = p.split("=", 1)
        body[k.replace("-", "_")] = _coerce(v)
    server, token = _server_and_token(path)
    req = urllib.request.Request(f"{server}/sandbox/v1/faults/{name}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30, context=_ssl_context(path)) as resp:
            result = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get("message", "")
        except ValueError:
            msg = ""
        raise LwsError(f"fault {name} failed: HTTP {e.code} {msg}".rstrip()) from None
    except OSError as e:
        raise LwsError(f"cannot reach the sandbox at {server}: {e}") from None
    click.echo(json.dumps(result.get("result"), sort_keys=True))


@sandbox.command("demo")
@click.option("--keep", is_flag=True, help="Stay up afterwards and print the `export KUBECONFIG=...` line.")
@click.option("--speed", type=float, default=10.0, show_default=True, help="Time factor for controller delays.")
@click.option("--kubeconfig", "kubeconfig", metavar="PATH", default=None,
              help=f"Where to write the kubeconfig with --keep (default {DEFAULT_KUBECONFIG}).")
def demo(keep: bool, speed: float, kubeconfig: str | None) -> None:
    """Start the demo scenario in-process, wait until it settles, show `list -A` and `status` of each LWS."""
    import tempfile
    _say("starting the sandbox with the demo scenario ...")
    sb = _start(0, speed, "demo")
    tmpdir = tempfile.mkdtemp(prefix="kubectl-lws-demo-")
    try:
        try:
            sb.wait_settled(timeout=120)
        except TimeoutError:
            _say("warning: the demo did not fully settle in 120s; showing the current state")
        kc = sb.write_kubeconfig(_kubeconfig_path(kubeconfig) if keep else Path(tmpdir) / "kubeconfig")
        names = sb.call(lambda: [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in
                                 sb.store.list("leaderworkersets.leaderworkerset.x-k8s.io")])
        _show(kc, names, sb)
        if keep:
            with _stop_on_signals():
                _say(f"sandbox API server at {sb.url}; press Ctrl-C to stop")
                click.echo(_export_line(Path(kc)))
                sys.stdout.flush()
                while True:
                    time.sleep(0.5)
    finally:
        sb.stop()
        if keep:
            _forget_kubeconfig(_kubeconfig_path(kubeconfig), sb.url)
        import shutil
        shutil.rmtree(tmpdir, ignore_errors=True)


def _show(kc: str, names: list[tuple[str, str]], sb: Any) -> None:
    """Print `kubectl lws list -A` and `kubectl lws status` through the real root CLI when available."""
    import importlib.util

    from kubectl_lws import cli as root
    have = {c for c in ("list", "status") if c in root.COMMANDS and importlib.util.find_spec(root.COMMANDS[c][0])}
    env_backup = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = kc
    try:
        click.echo("$ kubectl lws list -A")
        if "list" in have:
            _run_root(root, ["list", "-A", "--kubeconfig", kc])
        else:
            _fallback_list(sb)
        for ns, name in names:
            click.echo("")
            click.echo(f"$ kubectl lws status {name} -n {ns}")
            if "status" in have:
                _run_root(root, ["status", name, "-n", ns, "--kubeconfig", kc])
            else:
                click.echo("(the status command is not available in this build)")
    finally:
        if env_backup is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = env_backup


def _run_root(root: Any, args: list[str]) -> int:
    sys.stdout.flush()
    code = root.run(root.cli, args, "kubectl lws")
    sys.stdout.flush()
    return code


def _fallback_list(sb: Any) -> None:
    rows = sb.call(lambda: [(o["metadata"]["namespace"], o["metadata"]["name"],
                             (o.get("status") or {}).get("readyReplicas", 0), (o.get("spec") or {}).get("replicas"),
                             (o.get("spec") or {}).get("leaderWorkerTemplate", {}).get("size", 1))
                            for o in sb.store.list("leaderworkersets.leaderworkerset.x-k8s.io")])
    click.echo(f"{'NAMESPACE':<12} {'NAME':<24} {'READY':>5} {'DESIRED':>7} {'SIZE':>4}")
    for ns, name, ready, desired, size in rows:
        click.echo(f"{ns:<12} {name:<24} {ready:>5} {desired:>7} {size:>4}")
