"""``kubectl lws report NAME``: one archive an operator attaches to a ticket.

Shape (the ``kubectl cnpg report`` idea, for groups): the LWS and everything it owns as YAML, the
same status/verify/rollout output the commands print (their model and render functions, not copies),
related events of both APIs, the nodes its pods run on, leaders' (or all) logs with a per-container
cap, and optionally the controller, its logs and webhooks. Secrets are never read; secret-looking env
values are masked. What could not be collected is listed in ``manifest.json`` and does not fail the
report: only an unreadable LWS does. The archive is written to a temporary file and renamed, so an
interrupted run leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable

import click

from kubectl_lws.files import Archive, archive_kind, archive_root
from kubectl_lws.options import TARGET, DurationType, NamespaceType, app_context
from kubectl_lws.progress import Progress

DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024
CHUNK = 64 * 1024
DS_CRDS = ("disaggregatedsets.disaggregatedset.x-k8s.io", "disaggregatedsetrolescalers.disaggregatedset.x-k8s.io")


# ---- the command --------------------------------------------------------------------------------------

@click.command("report")
@click.argument("name", required=False, type=TARGET, metavar="NAME")
@click.option("--output", "output_path", metavar="FILE",
              help="Archive to write: .zip or .tar.gz/.tgz (default report_<ns>_<name>_<UTC time>.zip).")
@click.option("--logs", "logs_mode", type=click.Choice(["leaders", "all", "none"]), default="leaders",
              show_default=True, help="Whose logs to include (every container of those pods).")
@click.option("--previous", is_flag=True, help="Also the previous instance of every container that restarted.")
@click.option("--since", type=DurationType(), default=None, metavar="DURATION",
              help="Only log lines newer than this (controller logs: default 1h; pod logs: whole log).")
@click.option("--max-log-bytes", type=click.IntRange(min=1024), default=DEFAULT_MAX_LOG_BYTES, show_default=True,
              help="Per-container cap; the newest bytes are kept.")
@click.option("--include-controller", is_flag=True,
              help="Also the LWS controller Deployment, pods and logs, webhooks (caBundle fingerprints) and CRDs.")
@click.option("--controller-namespace", type=NamespaceType(), metavar="NS", default="lws-system",
              show_default=True,
              help="Where lws-controller-manager runs (with --include-controller).")
@click.option("--no-redact", is_flag=True, help="Keep the values of secret-looking env variables (warns).")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=16, show_default=True,
              help="Log streams fetched at the same time.")
@click.option("--recording", "recording_dir", metavar="DIR",
              help="Also this LWS's part of a recording (kubectl lws record --dir DIR), under recording/.")
def report(name: Any, output_path: str | None, logs_mode: str, previous: bool, since: float | None,
           max_log_bytes: int, include_controller: bool, controller_namespace: str, no_redact: bool, force: bool,
           concurrency: int, recording_dir: str | None) -> int:
    """Write a support bundle for one LeaderWorkerSet (objects, status, events, logs) to a zip or tar.gz.

    ds/NAME: a DisaggregatedSet (its objects, status, rollout history, events, P/D wiring), and under
    lws/<child>/ everything the report of each of its child LWS holds.

    \b
    Secrets are never read; env values with secret-looking names are written as ***.
    Items that cannot be collected (RBAC, timeouts, caps) are listed in manifest.json; the report
    still succeeds (exit 0, one warning). Exit 1 only when the LWS (or the set) itself cannot be read.

    \b
    Examples:
      kubectl lws report vllm
      kubectl lws report vllm --output vllm.tar.gz --logs all --previous
      kubectl lws report vllm --include-controller --since 2h
      kubectl lws report ds/pd --logs all
      kubectl lws report vllm --recording ./rec     # with what kubectl lws record kept
    """
    from kubectl_lws import errors
    from kubectl_lws.model.timeutil import utc_now

    if not name:
        raise errors.UsageError("NAME is required: kubectl lws report NAME", hint="list them with: kubectl lws list")
    target = name
    name = target.name
    app = app_context()
    cluster = app.cluster
    namespace = cluster.namespace
    started = utc_now()
    label = f"ds-{name}" if target.is_ds else name
    default_root = f"report_{namespace}_{label}_{started:%Y%m%dT%H%M%SZ}"
    path = output_path or f"{default_root}.zip"
    kind = archive_kind(path)
    if kind is None:
        raise errors.UsageError(f'--output "{path}": the name must end in .zip, .tar.gz or .tgz')
    if os.path.lexists(path) and not force:
        raise errors.LwsError(f"{path} already exists", hint="pass --force to overwrite it")
    recording = None
    if recording_dir:
        from kubectl_lws.recording import RecordingReader

        recording = RecordingReader(recording_dir)  # not a recording: one error before anything is read
    if no_redact:
        app.warn("--no-redact: env values with secret-looking names are written as they are; "
                 "check the bundle before sharing it")
    # Opened before anything is read: an output that cannot be written (read-only or missing folder, a
    # directory at that name) fails at once (exit 1), and nothing is left behind.
    archive = Archive(path, kind, archive_root(path, default_root))
    try:
        progress = Progress("report: ")
        progress.line(f"report: reading {target.kind_word} {namespace}/{name}")
        # the one failure that fails the report
        lws = cluster.get_ds(name, namespace) if target.is_ds else cluster.get_lws(name, namespace)
    except BaseException:
        archive.discard()
        raise
    if target.is_ds:
        from kubectl_lws.commands.report_ds import DsCollector

        collector: Collector = DsCollector(app, archive, lws, progress, redact=not no_redact)
    else:
        collector = Collector(app, archive, lws, progress, redact=not no_redact)
    try:
        collector.run(logs_mode=logs_mode, previous=previous, since=since, max_log_bytes=max_log_bytes,
                      include_controller=include_controller, controller_namespace=controller_namespace,
                      concurrency=concurrency)
        if recording is not None:
            collector.add_recording(recording)
        collector.write_manifest(started, {
            "logs": logs_mode, "previous": previous, "sinceSeconds": since, "maxLogBytes": max_log_bytes,
            "includeController": include_controller, "controllerNamespace": controller_namespace if
            include_controller else None, "redact": not no_redact, "output": path, "recording": recording_dir})
        size = archive.commit()
    except BaseException:
        collector.cancel()
        archive.discard()
        raise
    finally:
        progress.close()
    missed = sum(1 for m in collector.not_collected if not m.get("partial"))
    cut = len(collector.truncated)
    app.out(f"wrote {path} ({size:,} bytes, {len(archive.files)} files)")
    if missed or cut:
        parts = ([f"{missed} item(s) could not be collected"] if missed else []) + \
                ([f"{cut} log(s) cut at --max-log-bytes"] if cut else [])
        app.warn(f"{'; '.join(parts)}; see manifest.json (notCollected)")
    return 0


def _command_line() -> list[str]:
    """argv as typed, with credentials masked (the bundle never holds a token)."""
    from kubectl_lws.model.bundle import command_line

    return command_line(sys.argv[1:])


class Collector:
    """Fetches each part, writes it to the archive (main thread only), and records what failed."""

    def __init__(self, app: Any, archive: Archive, lws: dict, progress: Progress, *, redact: bool) -> None:
        self.app = app
        self.cluster = app.cluster
        self.archive = archive
        self.lws = lws
        self.name = lws["metadata"]["name"]
        self.namespace = lws["metadata"]["namespace"]
        self.progress = progress
        self.redact = redact
        self.masked = 0
        self.not_collected: list[dict] = []
        self.truncated: list[str] = []
        self.versions: dict[str, Any] = {}
        self.assessment: Any = None  # the verdict (model.health.Assessment), once status is written
        self.placement_map: Any = None  # model.placemap.ClusterMap, once map.svg is written
        self.timeline: list = []  # this LWS's events (model.events.LwsEvent), oldest first
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None

    # ---- helpers ------------------------------------------------------------------------------------
    def miss(self, item: str, exc: BaseException | str) -> None:
        from kubectl_lws import errors

        if isinstance(exc, errors.Forbidden):
            reason = f"forbidden (RBAC): {exc.message}"
        elif isinstance(exc, (errors.RequestTimeout,)):
            reason = f"timeout: {exc.message}"
        elif isinstance(exc, errors.NotFound):
            reason = f"not found: {exc.message}"
        elif isinstance(exc, errors.LwsError):
            reason = exc.message
        elif isinstance(exc, BaseException):
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = exc
        self.not_collected.append({"item": item, "reason": reason})

    def clean(self, obj: dict, *, keep_managed: bool = False) -> dict:
        """Redacted (in place: call only once nothing else reads ``obj``), managedFields dropped."""
        from kubectl_lws.model.bundle import redact, slim

        if not self.redact:
            return obj if keep_managed else slim(obj)
        out, n = redact(obj, drop_managed_fields=not keep_managed, in_place=True)
        self.masked += n
        return out

    def add_yaml(self, path: str, data: Any) -> None:
        from kubectl_lws.render.fastyaml import dumps

        self.archive.add(path, dumps(data))

    def add_json(self, path: str, data: Any) -> None:
        self.archive.add(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def cancel(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.cluster.close_streams()

    def parallel(self, jobs: dict[str, Callable[[], Any]]) -> dict[str, tuple[Any, BaseException | None]]:
        """Run reads at once; Ctrl-C reaches the main thread (it waits in short slices)."""
        from kubectl_lws import errors

        def safe(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
            try:
                return fn(), None
            except errors.LwsError as exc:
                return None, exc

        pool = ThreadPoolExecutor(max_workers=min(8, max(1, len(jobs))), thread_name_prefix="report")
        self._pool = pool
        try:
            futures = {k: pool.submit(safe, fn) for k, fn in jobs.items()}
            pending = set(futures.values())
            while pending:
                _, pending = wait(pending, timeout=0.2)
            return {k: f.result() for k, f in futures.items()}
        finally:
            pool.shutdown(wait=False)
            self._pool = None

    # ---- the parts ----------------------------------------------------------------------------------
    def run(self, *, logs_mode: str, previous: bool, since: float | None, max_log_bytes: int,
            include_controller: bool, controller_namespace: str, concurrency: int) -> None:
        from kubectl_lws.model import bundle
        from kubectl_lws.model.keys import NAME_LABEL, selector_for
        from kubectl_lws.model.rollout import lws_revisions

        c, ns, name = self.cluster, self.namespace, self.name
        sel = f"{NAME_LABEL}={name}"
        self.progress.line("report: listing pods, statefulsets, services, revisions, events")
        got = self.parallel({
            "version": c.server_version,
            "pods": lambda: c.list_pods(ns, label_selector=selector_for(name)),
            "statefulsets": lambda: c.list("statefulsets", ns, label_selector=sel)[0],
            "services": lambda: c.list("services", ns, label_selector=sel)[0],
            "revisions": lambda: c.list("controllerrevisions", ns, label_selector=sel)[0],
            "events": lambda: c.list("events", ns)[0],
            "events.k8s.io": lambda: c.list("events.k8s.io", ns)[0],
        })
        version, err = got["version"]
        if version is not None:
            self.versions["server"] = version.get("gitVersion")
        pods = self._part(got, "pods") or []
        statefulsets = self._part(got, "statefulsets") or []
        services = [s for s in (self._part(got, "services") or []) if _owned_service(s, self.lws, pods)]
        all_revisions = self._part(got, "revisions") or []
        revisions = lws_revisions(all_revisions, self.lws["metadata"].get("uid"))
        uids, names = bundle.owned_names(self.lws, statefulsets, pods, services)
        # the command outputs first: they read the objects before redaction edits them in place
        nodes = self._nodes(pods)
        raw_events = [*(got["events"][0] or []), *(got["events.k8s.io"][0] or [])]
        events_read = got["events"][1] is None or got["events.k8s.io"][1] is None
        self._status(pods, nodes, raw_events if events_read else None, got["events"][1])
        self._verify_env(pods)
        self._history(all_revisions, pods, statefulsets)
        self._map(pods, nodes, raw_events if events_read else [])
        self.add_yaml("lws.yaml", self.clean(self.lws, keep_managed=True))
        self.add_yaml("controllerrevisions.yaml", bundle.as_list([self.clean(r) for r in revisions]))
        if got["statefulsets"][1] is None:
            self.add_yaml("statefulsets.yaml", bundle.as_list([self.clean(s) for s in statefulsets]))
        if got["services"][1] is None:
            self.add_yaml("services.yaml", bundle.as_list([self.clean(s) for s in services]))
        if got["pods"][1] is None:
            self.add_yaml("pods.yaml", bundle.as_list([self.clean(p) for p in pods]))
        if events_read:
            self._events_text(raw_events)
        if got["events"][1] is None:
            self.add_yaml("events.yaml", bundle.as_list(
                bundle.related_events([bundle.slim(e) for e in got["events"][0]], uids, names, "v1")))
        else:
            self.miss("events.yaml", got["events"][1])
        if got["events.k8s.io"][1] is None:
            self.add_yaml("events.events.k8s.io.yaml", bundle.as_list(
                bundle.related_events([bundle.slim(e) for e in got["events.k8s.io"][0]], uids, names, "events"),
                "events.k8s.io/v1"))
        else:
            self.miss("events.events.k8s.io.yaml", got["events.k8s.io"][1])
        if logs_mode != "none" and got["pods"][1] is None:
            self._logs(pods, logs_mode, previous, since, max_log_bytes, concurrency)
        if include_controller:
            self._controller(controller_namespace, since if since is not None else 3600.0, max_log_bytes,
                             concurrency)

    def _part(self, got: dict, key: str) -> Any:
        value, err = got[key]
        if err is not None:
            self.miss(f"{key}", err)
        return value

    def _nodes(self, pods: list[dict]) -> list[dict] | None:
        from kubectl_lws import errors
        from kubectl_lws.model.bundle import node_summary, pod_nodes

        wanted = set(pod_nodes(pods))
        if not wanted:
            self.add_yaml("nodes.yaml", [])
            return []
        self.progress.line(f"report: reading {len(wanted)} node(s)")
        try:
            nodes = self.cluster.list_nodes_named(wanted)
        except errors.LwsError as exc:
            self.miss("nodes.yaml", exc)
            return None
        self.add_yaml("nodes.yaml", [node_summary(n) for n in sorted(nodes, key=lambda n: n["metadata"]["name"])])
        return nodes

    def _status(self, pods: list[dict], nodes: list[dict] | None, raw_events: list[dict] | None,
                events_error: BaseException | None) -> None:
        """``status.json`` and ``status.txt``: the verdict ``status`` gives (``reads.verdict``), with the
        events read for the bundle standing in for its events LIST (its routine reasons left out, as
        that LIST leaves them out on the server, so the re-creations counted are the same)."""
        from kubectl_lws.commands.status import _placement
        from kubectl_lws.model.events import without_noise
        from kubectl_lws.reads import layer_reader, verdict
        from kubectl_lws.render.status import render_status, status_doc

        def events() -> tuple[list[dict] | None, dict]:
            if raw_events is None:
                return None, {"error": str(getattr(events_error, "message", events_error))}
            return without_noise(raw_events), {"api": "v1", "truncated": False}

        try:
            a = verdict(self.lws, pods, nodes, events=events, layers=layer_reader(self.app))
            self.assessment = a
            place = _placement(a, nodes, ())
            self.add_json("status.json", status_doc(a, place))
            self.archive.add("status.txt", render_status(a, place, pods=True, wide=True, color=False) + "\n")
        except Exception as exc:  # noqa: BLE001 — one part failing must not lose the bundle
            self.miss("status", exc)

    def _map(self, pods: list[dict], nodes: list[dict] | None, raw_events: list[dict]) -> None:
        """``map.svg``: this LWS on the nodes it runs on (``kubectl lws map NAME -o svg`` draws every node and
        the other pods' accelerators too; the bundle reads only the LWS's nodes, as ``status`` does)."""
        from kubectl_lws.model import events as E
        from kubectl_lws.model import placemap as M
        from kubectl_lws.model.groups import lws_view
        from kubectl_lws.render.svg import map_svg

        try:
            self.timeline = E.events_of_lws(E.normalize_all(E.raw_of_lws(raw_events, self.name)), self.name)
            levels, source = M.detect_levels(nodes or [], [lws_view(self.lws)])
            assessments = {(self.namespace, self.name): self.assessment} if self.assessment is not None else None
            self.placement_map = M.build_map([self.lws], pods, nodes, levels=levels, levels_from=source,
                                             others_scope="none", assessments=assessments)
            self.archive.add("map.svg", map_svg(self.placement_map, title=f"{self.namespace}/{self.name}"))
        except Exception as exc:  # noqa: BLE001 — one part failing must not lose the bundle
            self.miss("map.svg", exc)

    def write_summaries(self) -> None:
        """``index.html`` (open it in a browser) and ``summary.md`` (paste it in a ticket): the state, the
        groups, the map, the events, and what could not be collected, linking the other files."""
        from kubectl_lws.render.bundle import index_html, summary_markdown

        files = [f["path"] for f in self.archive.files]
        try:
            self.archive.add("index.html", index_html(self.lws, self.assessment, self.placement_map, self.timeline,
                                                      files, self.not_collected))
        except Exception as exc:  # noqa: BLE001
            self.miss("index.html", exc)
        try:
            self.archive.add("summary.md", summary_markdown(self.lws, self.assessment, self.placement_map, files,
                                                            self.not_collected))
        except Exception as exc:  # noqa: BLE001
            self.miss("summary.md", exc)

    def _events_text(self, raw: list[dict]) -> None:
        """``events.txt``: the ``kubectl lws events NAME`` timeline (both APIs, deduplicated, by group)."""
        from kubectl_lws.commands.events import TYPES, _select
        from kubectl_lws.model.timeutil import utc_now
        from kubectl_lws.render.events import events_table

        try:
            mine = _select(raw, self.name, [], None, list(TYPES))
            self.archive.add("events.txt", (events_table(mine, utc_now()) if mine else "No events found.") + "\n")
        except Exception as exc:  # noqa: BLE001 — the YAML files still hold the events
            self.miss("events.txt", exc)

    def _verify_env(self, pods: list[dict]) -> None:
        from kubectl_lws.commands.verify import _summary
        from kubectl_lws.model import envcheck
        from kubectl_lws.model.groups import group_pods, lws_view
        from kubectl_lws.render.verify import render_env

        try:
            started = time.monotonic()
            view = lws_view(self.lws)
            results = []
            for group in group_pods(pods, view.replicas):
                findings = envcheck.check_group(view, group)
                results.append({"index": group.index, "status": envcheck.worst(findings),
                                "findings": [f.to_dict(not self.redact) for f in findings]})
            doc = {"kind": "VerifyEnvReport", "lws": view.name, "namespace": view.namespace, "live": False,
                   "groups": results, "summary": _summary(results, 0, started)}
            self.add_json("verify-env.json", doc)
            self.archive.add("verify-env.txt", _captured(lambda: render_env(doc, False)))
        except Exception as exc:  # noqa: BLE001
            self.miss("verify-env", exc)

    def _history(self, revisions: list[dict], pods: list[dict], statefulsets: list[dict]) -> None:
        from kubectl_lws.commands.rollout import _current_key
        from kubectl_lws.model import rollout as model
        from kubectl_lws.model.groups import worker_index
        from kubectl_lws.render.rollout import history_footer, history_table

        try:
            leaders = [p for p in pods if worker_index(p) == 0]
            sts = next((s for s in statefulsets if s["metadata"]["name"] == self.name), None)
            key = _current_key(self.lws, leaders, sts) or None
            entries = model.history(revisions, leaders, key, self.lws["metadata"].get("uid"))
            self.add_json("rollout-history.json", {"name": self.name, "namespace": self.namespace,
                                                   "currentRevision": key,
                                                   "revisions": [e.to_dict() for e in entries],
                                                   "note": model.HISTORY_NOTE})
            self.archive.add("rollout-history.txt",
                             history_table(entries) + "\n" + "\n".join(history_footer(entries)) + "\n")
        except Exception as exc:  # noqa: BLE001
            self.miss("rollout-history", exc)

    # ---- logs ---------------------------------------------------------------------------------------
    def _logs(self, pods: list[dict], mode: str, previous: bool, since: float | None, cap: int,
              concurrency: int, *, prefix: str = "logs", namespace: str | None = None) -> None:
        from kubectl_lws.model import logsel

        if mode == "controller":
            jobs = [(p["metadata"]["name"], c.get("name", ""), False)
                    for p in pods for c in (p.get("spec") or {}).get("containers") or []]
        else:
            selection = logsel.select_targets(pods, workers=mode == "all", all_pods=mode == "all",
                                              all_containers=True)
            for w in selection.waiting:
                self.miss(f"{prefix}/{w.pod}/{w.container}.log", f"container not started ({w.reason})")
            jobs = [(t.pod, t.container, False) for t in selection.targets]
            if previous:
                jobs += [(t.pod, t.container, True) for t in selection.targets if t.restarts > 0]
        self._fetch_logs(jobs, since, cap, concurrency, prefix, namespace or self.namespace)

    def _fetch_logs(self, jobs: list[tuple[str, str, bool]], since: float | None, cap: int, concurrency: int,
                    prefix: str, namespace: str) -> None:
        import math

        if not jobs:
            return
        self.cluster.max_connections = max(self.cluster.max_connections, concurrency + 4)
        since_seconds = None if since is None else max(1, math.ceil(since))
        total = len(jobs)
        self.progress.line(f"report: fetching {total} log(s) ({prefix})")
        self.progress.start("logs", total)
        pool = ThreadPoolExecutor(max_workers=min(concurrency, total), thread_name_prefix="report-logs")
        self._pool = pool
        try:
            futures = {pool.submit(self._read_log, pod, container, prev, since_seconds, cap, namespace):
                       (pod, container, prev) for pod, container, prev in jobs}
            pending = set(futures)
            done_count = 0
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in done:
                    pod, container, prev = futures[f]
                    path = f"{prefix}/{pod}/{container}{'.previous' if prev else ''}.log"
                    data, truncated, exc = f.result()
                    if exc is not None:
                        self.miss(path, exc)
                    else:
                        self.archive.add(path, data)
                        if truncated:
                            self.truncated.append(path)
                            self.not_collected.append({"item": path, "partial": True,
                                                       "reason": f"size cap: only the newest {cap} bytes kept"})
                    done_count += 1
                    self.progress.update(done_count)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self.progress.finish()

    def _read_log(self, pod: str, container: str, previous: bool, since_seconds: int | None, cap: int,
                  namespace: str) -> tuple[bytes, bool, BaseException | None]:
        """The newest ``cap`` bytes of one container's log (whole lines where the cut allows)."""
        from kubectl_lws import errors

        resp = None
        try:
            resp = self.cluster.pod_log_stream(pod, namespace=namespace, container=container, previous=previous,
                                               since_seconds=since_seconds)
            buf = bytearray()
            truncated = False
            for chunk in resp.stream(CHUNK, decode_content=False):
                if self._stop.is_set():
                    return b"", False, errors.LwsError("interrupted")
                buf += chunk
                if len(buf) > 2 * cap:
                    del buf[: len(buf) - cap]
                    truncated = True
            if len(buf) > cap:
                del buf[: len(buf) - cap]
                truncated = True
            if truncated:
                cut = buf.find(b"\n")
                if 0 <= cut < len(buf) - 1:
                    del buf[: cut + 1]
            return bytes(buf), truncated, None
        except errors.LwsError as exc:
            return b"", False, exc
        except Exception as exc:  # noqa: BLE001 — a broken stream is a note in the manifest
            return b"", False, exc
        finally:
            if resp is not None:
                try:
                    resp.release_conn()
                except Exception:  # noqa: BLE001
                    pass

    # ---- the controller -----------------------------------------------------------------------------
    def _controller(self, cns: str, since: float, cap: int, concurrency: int) -> None:
        from kubectl_lws.model import bundle
        from kubectl_lws.model import doctor
        from kubectl_lws.model.timeutil import utc_now

        c = self.cluster
        self.progress.line(f"report: reading the LWS controller in {cns}")
        jobs: dict[str, Callable[[], Any]] = {
            "deployment": lambda: c.get("deployments", doctor.CONTROLLER, cns),
            "pods": lambda: c.list_pods(cns, label_selector="control-plane=controller-manager"),
            "mutating": lambda: c.get("mutatingwebhookconfigurations", doctor.MUTATING),
            "validating": lambda: c.get("validatingwebhookconfigurations", doctor.VALIDATING),
        }
        for crd in (doctor.CRD_NAME, *DS_CRDS):
            jobs[f"crd:{crd}"] = lambda crd=crd: c.get("customresourcedefinitions", crd)
        got = self.parallel(jobs)
        deploy, err = got["deployment"]
        if err is None:
            self.add_yaml("controller/deployment.yaml", self.clean(deploy))
            self.versions["controllerImage"] = doctor.controller_image(deploy)
            self.versions["lws"] = doctor.image_tag(self.versions["controllerImage"]) or None
        else:
            self.miss("controller/deployment.yaml", err)
        pods, err = got["pods"]
        if err is None:
            self.add_yaml("controller/pods.yaml", bundle.as_list([self.clean(p) for p in pods]))
        else:
            self.miss("controller/pods.yaml", err)
        now = utc_now()
        hooks = []
        for key in ("mutating", "validating"):
            obj, err = got[key]
            if err is None:
                hooks.append(bundle.webhook_summary(obj, now))
            else:
                self.miss(f"controller/webhooks.yaml ({key})", err)
        self.add_yaml("controller/webhooks.yaml", bundle.as_list(hooks, "admissionregistration.k8s.io/v1"))
        crds = []
        for crd in (doctor.CRD_NAME, *DS_CRDS):
            obj, err = got[f"crd:{crd}"]
            if err is None:
                crds.append(bundle.crd_summary(obj))
            elif crd == doctor.CRD_NAME or not _is_not_found(err):
                self.miss(f"controller/crds.yaml ({crd})", err)
        self.add_yaml("controller/crds.yaml", crds)
        if pods:
            self._logs(pods, "controller", False, since, cap, concurrency, prefix="controller/logs", namespace=cns)

    def subject(self) -> dict:
        """What the bundle is about, for the manifest."""
        meta = self.lws["metadata"]
        return {"leaderWorkerSet": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                                    "uid": meta.get("uid"), "generation": meta.get("generation")}}

    def recorded_lws(self) -> list[str]:
        """The LWS whose folders of a recording belong in this bundle (a recording is kept per LWS)."""
        return [self.name]

    def add_recording(self, recording: Any) -> None:
        """``recording/``: the header and this LWS's folder of a recording (``kubectl lws history --dir`` reads
        the archive as it reads DIR)."""
        from kubectl_lws.recording import BUNDLE_FOLDER, HEADER

        mine = [rel for lws in self.recorded_lws() for rel in recording.names(f"{self.namespace}/{lws}/")]
        if not mine:
            self.miss(f"{BUNDLE_FOLDER}/", f"the recording holds nothing of {self.namespace}/{self.name}")
            return
        self.progress.line(f"report: adding {len(mine)} file(s) of the recording")
        for rel in [HEADER, *mine]:
            data = recording.read(rel)
            if data is not None:
                self.archive.add(f"{BUNDLE_FOLDER}/{rel}", data)

    def write_manifest(self, started: Any, options: dict) -> None:
        from kubectl_lws import __version__

        self.write_summaries()
        from kubectl_lws.model.timeutil import rfc3339, utc_now

        files = list(self.archive.files)
        manifest = {
            "kind": "LwsSupportBundle", "formatVersion": 1,
            "created": rfc3339(started), "finished": rfc3339(utc_now()),
            **self.subject(),
            "versions": {"plugin": __version__, "server": self.versions.get("server"),
                         "lwsApi": self.lws.get("apiVersion"), "lwsController": self.versions.get("lws"),
                         "controllerImage": self.versions.get("controllerImage")},
            "commandLine": _command_line(), "options": options,
            "redaction": {"enabled": self.redact, "maskedEnvValues": self.masked,
                          "rules": "env values whose name contains TOKEN, SECRET, PASSWORD, PASSWD, KEY, CREDENTIAL "
                                   "or AUTH are ***; Secrets are never read; no kubeconfig or token is written"},
            "logs": {"maxLogBytesPerContainer": options["maxLogBytes"], "truncated": self.truncated},
            "files": files, "notCollected": self.not_collected,
        }
        self.add_json("manifest.json", manifest)


def _owned_service(svc: dict, lws: dict, pods: list[dict]) -> bool:
    """Services of this LWS: owned by it or by one of its leader pods (UniquePerReplica), or labelled."""
    refs = (svc.get("metadata") or {}).get("ownerReferences") or []
    if not refs:
        return True  # selected by the LWS name label
    uids = {lws["metadata"].get("uid")} | {(p.get("metadata") or {}).get("uid") for p in pods}
    return any(r.get("uid") in uids for r in refs)


def _is_not_found(exc: BaseException | None) -> bool:
    from kubectl_lws import errors

    return isinstance(exc, errors.NotFound)


def _captured(fn: Callable[[], None]) -> str:
    """stdout of a render function that prints (verify's renderers echo line by line)."""
    import contextlib

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    return buf.getvalue()
