"""``kubectl lws report ds/NAME``: one archive for a DisaggregatedSet and every LWS it made.

Layout: the set's own files at the top (``disaggregatedset.yaml``, its role scalers and ``-prv`` Services,
``status.txt``/``status.json`` as ``status ds/NAME`` prints them, ``rollout-history.*``, ``events.txt``, and
``verify-runtime.json`` with the P/D wiring across roles), then ``lws/<child>/`` for each child LWS holding
exactly what ``report <child>`` would (objects, status, events, env checks, logs). One ``manifest.json`` lists
every file and everything that could not be collected.
"""

from __future__ import annotations

from typing import Any

from kubectl_lws.commands.report import Collector


class _Prefixed:
    """The archive as a child's Collector sees it: every path under ``lws/<child>/``."""

    def __init__(self, archive: Any, prefix: str) -> None:
        self.archive = archive
        self.prefix = prefix

    def add(self, name: str, data: bytes | str) -> None:
        self.archive.add(self.prefix + name, data)

    @property
    def files(self) -> list[dict]:
        return self.archive.files


class DsCollector(Collector):
    """The set's parts, then one Collector per child LWS writing under ``lws/<child>/``."""

    def __init__(self, app: Any, archive: Any, ds: dict, progress: Any, *, redact: bool) -> None:
        super().__init__(app, archive, ds, progress, redact=redact)
        self.ds = ds
        self.children: list[str] = []

    def run(self, *, logs_mode: str, previous: bool, since: float | None, max_log_bytes: int,
            include_controller: bool, controller_namespace: str, concurrency: int) -> None:
        from kubectl_lws.model import bundle, keys
        from kubectl_lws.model.ds import children_of

        c, ns, name = self.cluster, self.namespace, self.name
        sel = keys.ds_selector(name)
        self.progress.line(f"report: listing the child LWS, pods, services, role scalers and events of ds/{name}")
        got = self.parallel({
            "version": c.server_version,
            "lws": lambda: c.list_lws(ns, label_selector=sel),
            "pods": lambda: c.list_pods(ns, label_selector=sel),
            "services": lambda: c.list("services", ns, label_selector=sel)[0],
            "scalers": lambda: c.list("disaggregatedsetrolescalers", ns, label_selector=sel)[0],
            "events": lambda: c.list_events(ns)[0],
        })
        version, _ = got["version"]
        if version is not None:
            self.versions["server"] = version.get("gitVersion")
        lws = self._part(got, "lws") or []
        pods = self._part(got, "pods") or []
        services = self._part(got, "services") or []
        scalers, err = got["scalers"]
        if err is not None and not _not_found(err):
            self.miss("rolescalers", err)
        scalers = scalers or []
        raw_events = self._part(got, "events") or []
        kids = children_of(name, lws)
        self._status(lws, pods, services, scalers, raw_events)
        self._history(kids, raw_events)
        self._events(kids, raw_events)
        self._pd(kids, pods)
        self.add_yaml("disaggregatedset.yaml", self.clean(self.ds, keep_managed=True))
        if scalers:
            self.add_yaml("rolescalers.yaml", bundle.as_list([self.clean(s) for s in scalers]))
        if got["services"][1] is None:
            self.add_yaml("services.yaml", bundle.as_list([self.clean(s) for s in services]))
        for ref, obj in kids:
            child = Collector(self.app, _Prefixed(self.archive, f"lws/{obj['metadata']['name']}/"), obj,
                              self.progress, redact=self.redact)
            child._pool = None
            try:
                child.run(logs_mode=logs_mode, previous=previous, since=since, max_log_bytes=max_log_bytes,
                          include_controller=False, controller_namespace=controller_namespace,
                          concurrency=concurrency)
            finally:
                prefix = f"lws/{obj['metadata']['name']}/"
                self.not_collected += [{**m, "item": prefix + m["item"]} for m in child.not_collected]
                self.truncated += [prefix + t for t in child.truncated]
                self.masked += child.masked
            self.children.append(obj["metadata"]["name"])
        if include_controller:
            self._controller(controller_namespace, since if since is not None else 3600.0, max_log_bytes,
                             concurrency)

    def recorded_lws(self) -> list[str]:
        """A recording keeps each child LWS in its own folder (``record ds/NAME`` is not built)."""
        return list(self.children)

    def _assessment(self, lws: list, pods: list, services: list, scalers: list, raw_events: list) -> Any:
        from kubectl_lws.model import ds as D
        from kubectl_lws.model import events as E

        da = D.assess_ds(D.ds_view(self.ds), lws, pods, services=services, scalers=scalers or None)
        D.explain(da, E.normalize_all(raw_events), info={"api": "v1"})
        return da

    def _status(self, lws: list, pods: list, services: list, scalers: list, raw_events: list) -> None:
        from kubectl_lws.render.ds import render_status, status_doc

        try:
            da = self._assessment(lws, pods, services, scalers, raw_events)
            shown = [(c, g) for c in da.children for g in c.a.groups]
            self.add_json("status.json", status_doc(da, shown=shown))
            self.archive.add("status.txt", render_status(da, shown, pods=True) + "\n")
        except Exception as exc:  # noqa: BLE001 — one part failing must not lose the bundle
            self.miss("status", exc)

    def _history(self, kids: list, raw_events: list) -> None:
        from kubectl_lws.commands.rollout_ds import history_doc
        from kubectl_lws.model import events as E
        from kubectl_lws.model.ds import ds_view, target_revision

        try:
            target, _ = target_revision(ds_view(self.ds), kids)
            mine = [e for e in E.normalize_all(raw_events) if e.kind == "DisaggregatedSet" and e.object_name == self.name]
            self.add_json("rollout-history.json", history_doc(self.name, self.namespace, kids, target, mine))
        except Exception as exc:  # noqa: BLE001
            self.miss("rollout-history", exc)

    def _events(self, kids: list, raw_events: list) -> None:
        from kubectl_lws.model import ds as D
        from kubectl_lws.model import events as E
        from kubectl_lws.model.timeutil import utc_now
        from kubectl_lws.render.ds import ds_events_table

        try:
            evs = E.normalize_all(E.raw_of_lws(raw_events, self.name))
            mine = D.events_of_ds(evs, D.ds_view(self.ds), kids)
            self.archive.add("events.txt", (ds_events_table(mine, utc_now()) if mine else "No events found.") + "\n")
        except Exception as exc:  # noqa: BLE001
            self.miss("events.txt", exc)

    def _pd(self, kids: list, pods: list) -> None:
        """``verify runtime``'s P/D wiring across the roles (static, from the pods and templates)."""
        from kubectl_lws.model import pdcheck
        from kubectl_lws.model import runtimecheck as rc
        from kubectl_lws.model.ds import ds_view, target_revision
        from kubectl_lws.model.groups import group_pods, lws_view, pods_by_lws

        try:
            view = ds_view(self.ds)
            revision, _ = target_revision(view, kids)
            by_lws = pods_by_lws(pods)
            servers = []
            for role in view.roles:
                leader = None
                for ref, obj in kids:
                    if ref.role == role.name and ref.revision == revision:
                        lv = lws_view(obj)
                        groups = group_pods(by_lws.get((lv.namespace, lv.name), []), lv.replicas)
                        leader = next((g.leader for g in groups if g.leader is not None), None)
                        break
                tmpl = role.template
                servers.append(pdcheck.role_server(role.name, leader, tmpl.get("leaderTemplate")
                                                   or tmpl.get("workerTemplate") or {}, tmpl.get("workerTemplate")
                                                   or {}, role.size))
            findings = pdcheck.check(servers)
            self.add_json("verify-runtime.json", {"kind": "DisaggregationWiring", "name": self.name,
                                                  "namespace": self.namespace, "revision": revision,
                                                  "status": rc.worst(findings),
                                                  "findings": [f.to_dict() for f in findings]})
        except Exception as exc:  # noqa: BLE001
            self.miss("verify-runtime", exc)

    def subject(self) -> dict:
        meta = self.ds["metadata"]
        return {"disaggregatedSet": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                                     "uid": meta.get("uid"), "generation": meta.get("generation")},
                "childLeaderWorkerSets": list(self.children)}


def _not_found(exc: BaseException | None) -> bool:
    from kubectl_lws import errors

    return isinstance(exc, (errors.NotFound, errors.DsApiMissing))

