"""``kubectl lws doctor``: can kubectl lws work here, and is LWS installed and healthy?

Every read is independent, so they run in two parallel waves (the second needs the controller
namespace, found from the webhooks' service): about 30 small requests in well under a second.
The judging lives in ``kubectl_lws.model.doctor``; this module fetches and prints.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import click

from kubectl_lws.options import app_context, output_option

WORKERS = 12


def _fetch(fn: Callable[[], Any]) -> tuple[Any, str | None]:
    """(value, None) or (None, "forbidden" | "notfound" | why): a 403 and a 404 are answers about the
    cluster; any other failure (a 5xx, a timeout) is only why the check could not be made
    (``model.doctor.could_not_check``), never a crash."""
    from kubectl_lws import errors
    from kubectl_lws.model.doctor import FORBIDDEN, NOT_FOUND

    try:
        return fn(), None
    except errors.Forbidden:
        return None, FORBIDDEN
    except (errors.NotFound, errors.LwsApiMissing):
        return None, NOT_FOUND
    except errors.LwsError as exc:
        return None, exc.message


def _wave(pool: ThreadPoolExecutor, jobs: dict[str, Callable[[], Any]]) -> dict[str, tuple[Any, str | None]]:
    futures = {key: pool.submit(_fetch, fn) for key, fn in jobs.items()}
    return {key: f.result() for key, f in futures.items()}


@click.command("doctor")
@click.option("--controller-namespace", metavar="NS", default=None,
              help="Where lws-controller-manager runs (default: from the webhooks' service, else lws-system).")
@output_option(("table", "json", "yaml"), default="table")
def doctor(controller_namespace: str | None, output: str) -> int:
    """Check the API, the LWS controller and webhooks, your permissions, and cluster facts.

    \b
    Each check is PASS, WARN, FAIL (or INFO) with the fix in one line.
    Exit codes: 0 no FAIL (warnings allowed), 3 at least one FAIL.

    \b
    Examples:
      kubectl lws doctor
      kubectl lws doctor -n inference -o json
      kubectl lws doctor --controller-namespace lws-operator
    """
    from kubectl_lws import errors
    from kubectl_lws.model import doctor as model
    from kubectl_lws.model import doctor_controller as where
    from kubectl_lws.model import doctor_layers as layers
    from kubectl_lws.model.admission import Served
    from kubectl_lws.model.keys import LWS_GROUP
    from kubectl_lws.model.timeutil import utc_now

    if controller_namespace is not None:
        _validate_ns(controller_namespace)
    app = app_context()
    cluster = app.cluster
    ns = cluster.namespace
    report = model.Report()
    report.context = {"namespace": ns}
    try:
        version = cluster.server_version()
        report.checks.append(model.check_server(version, None))
    except (errors.Unreachable, errors.Unauthorized, errors.RequestTimeout, errors.ConfigError) as exc:
        report.checks.append(model.check_server(None, exc.message))
        return _finish(app, report, output)
    cluster.max_connections = max(cluster.max_connections, WORKERS + 4)
    perms = {p.key: p for p in model.PERMS + layers.ALL_PERMS}

    def review(p: "model.Perm") -> Callable[[], bool]:
        return lambda: cluster.access_review(p.verb, p.resource, group=p.group, subresource=p.subresource or None,
                                             namespace=None if p.cluster else ns)

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="doctor") as pool:
        first: dict[str, Callable[[], Any]] = {
            "group": lambda: cluster.request("GET", f"/apis/{LWS_GROUP}"),
            "ds": lambda: cluster.request("GET", f"/apis/{model.DS_GROUP}"),
            "crd": lambda: cluster.get("customresourcedefinitions", model.CRD_NAME),
            "mutating": lambda: cluster.get("mutatingwebhookconfigurations", model.MUTATING),
            "validating": lambda: cluster.get("validatingwebhookconfigurations", model.VALIDATING),
            "lws": lambda: cluster.list_lws(ns),
            "apis": cluster.api_groups,
        }
        first.update({f"perm:{k}": review(p) for k, p in perms.items()})
        got = _wave(pool, first)
        services = _webhook_services(got["mutating"][0], got["validating"][0])
        cns = controller_namespace or next((s[0] for s in services), None) or model.CONTROLLER_NAMESPACE
        lws_items = got["lws"][0] if isinstance(got["lws"][0], list) else None
        wanted_sts = [o["metadata"]["name"] for o in lws_items or [] if _asks_mu(o)]
        second: dict[str, Callable[[], Any]] = {
            "deploy": lambda: cluster.get("deployments", model.CONTROLLER, cns),
            "pods": lambda: cluster.list_pods(cns, label_selector="control-plane=controller-manager"),
            "lease": lambda: cluster.get("leases", model.LEASE_NAME, cns),
        }
        for sns, sname in services:
            second[f"svc:{sns}/{sname}"] = (
                lambda sns=sns, sname=sname: cluster.list("endpointslices", sns,
                                                          label_selector=f"kubernetes.io/service-name={sname}")[0])
        for name in wanted_sts:
            second[f"sts:{name}"] = lambda name=name: cluster.get("statefulsets", name, ns)
        # what the LWS controller leaves here, and the layers' controllers (model/doctor_layers)
        second["events"] = lambda: cluster.list_events(ns, field_selector="involvedObject.kind=LeaderWorkerSet",
                                                       limit=200)[0]
        served = Served.from_group_list(got["apis"][0]) if isinstance(got["apis"][0], dict) else None
        for layer in layers.LAYERS:
            if served is not None and layer.controller and served.version(layer.group, layer.versions):
                lns, lname = layer.controller
                second[f"layer:{layer.key}"] = lambda lns=lns, lname=lname: cluster.get("deployments", lname, lns)
        got.update(_wave(pool, second))
        # the pods behind the webhook service name the controller's Deployment, wherever it runs
        slices0 = {s_: got[f"svc:{s_[0]}/{s_[1]}"][0] for s_ in services}
        third: dict[str, Callable[[], Any]] = {}
        for pns, pname in [p for s_ in services for p in where.endpoint_pods(slices0.get(s_))][:3]:
            third[f"pod:{pns}/{pname}"] = lambda pns=pns, pname=pname: cluster.get("pods", pname, pns)
        got.update(_wave(pool, third))
        pods_found = {tuple(k[4:].split("/", 1)): v for k, (v, _) in got.items() if k.startswith("pod:")}
        lease_obj = got["lease"][0] if isinstance(got["lease"][0], dict) else None
        located = where.locate(cns, services, slices0, pods_found,
                               where.webhook_urls(got["mutating"][0], got["validating"][0]), lease_obj, cns)
        if got["deploy"][0] is None and located.deployment and located.namespace:
            got["deploy"] = _fetch(lambda: cluster.get("deployments", located.deployment, located.namespace))
    now = utc_now()
    report.context["controllerNamespace"] = cns
    if isinstance(version, dict):
        report.context["server"] = version.get("gitVersion")
    group_doc, group_err = got["group"]
    report.checks.append(model.check_api_group(group_doc if isinstance(group_doc, dict) else None, group_err))
    report.checks.append(model.check_crd(*got["crd"]))
    ds_doc, ds_err = got["ds"]
    report.checks.append(model.check_disaggregated(ds_doc if isinstance(ds_doc, dict) else None, ds_err))
    deploy, deploy_err = got["deploy"]
    found_ns = located.namespace if deploy is not None and located.deployment else cns
    controller_checks = model.check_deployment(deploy, deploy_err, found_ns)
    if deploy is not None:
        report.context["controllerImage"] = model.controller_image(deploy)
    controller_checks.append(model.check_pods(*got["pods"], cns))
    controller_checks.append(model.check_lease(*got["lease"], cns, now))
    events = got["events"][0] if isinstance(got["events"][0], list) else None
    live_check, live = where.reconciling(lws_items, events, now, ns)
    report.checks += where.soften(controller_checks, located, live, cns)
    report.checks.append(where.located_check(located))
    if live_check is not None:
        report.checks.append(live_check)
    report.context["controller"] = located.to_json()
    slices = {s: got[f"svc:{s[0]}/{s[1]}"][0] for s in services}
    for kind, name, key in (("mutatingwebhookconfigurations", model.MUTATING, "mutating"),
                            ("validatingwebhookconfigurations", model.VALIDATING, "validating")):
        report.checks += model.check_webhooks(kind, name, *got[key], slices, now)
    allowed = {k: (got[f"perm:{k}"][0] if got[f"perm:{k}"][1] is None else None) for k in perms}
    base = {p.key: allowed[p.key] for p in model.PERMS}
    report.checks += model.check_permissions(base, ns)
    report.matrix = model.permission_matrix(base)
    sts = {n: got[f"sts:{n}"][0] for n in wanted_sts if got[f"sts:{n}"][0] is not None}
    report.checks += model.check_max_unavailable(lws_items, sts, got["lws"][1])
    apis, apis_err = got["apis"]
    layer_checks, layer_doc = layers.check_layers(
        Served.from_group_list(apis) if isinstance(apis, dict) else None, apis_err,
        {layer.key: got.get(f"layer:{layer.key}", (None, "notfound")) for layer in layers.LAYERS},
        lws_items, allowed, ns)
    report.checks += layer_checks
    report.context["layers"] = layer_doc
    return _finish(app, report, output)


def _finish(app: Any, report: Any, output: str) -> int:
    from kubectl_lws.render.doctor import render_doctor
    from kubectl_lws.render.output import emit

    doc = report.to_dict()
    if not emit(doc, output):
        app.out(render_doctor(doc, color=app.use_color()))
    return 3 if report.failed else 0


def _validate_ns(value: str) -> None:
    import re

    from kubectl_lws import errors

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value) or len(value) > 63:
        raise errors.UsageError(f'--controller-namespace "{value}" is not a valid namespace name')


def _webhook_services(*configs: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for cfg in configs:
        if not isinstance(cfg, dict):
            continue
        for hook in cfg.get("webhooks") or []:
            svc = (hook.get("clientConfig") or {}).get("service")
            if svc and (svc.get("namespace", ""), svc.get("name", "")) not in out:
                out.append((svc.get("namespace", ""), svc.get("name", "")))
    return out


def _asks_mu(lws: dict) -> bool:
    from kubectl_lws.model.doctor import _intstr

    spec = lws.get("spec") or {}
    ruc = (spec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
    return _intstr(ruc.get("maxUnavailable", 1), int(spec.get("replicas", 1) or 0)) > 1
