"""Checks for ``kubectl lws doctor``: pure functions from raw API answers to PASS/WARN/FAIL findings.

Each finding carries a one-line fix, because a doctor that says "webhook broken" without saying what
to run sends the operator to a search engine. The command module fetches; this module judges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from kubectl_lws.model.timeutil import parse_time

PASS, WARN, FAIL, INFO = "PASS", "WARN", "FAIL", "INFO"
EXPIRY_WARN_DAYS = 7
LEASE_NAME = "b8b2488c.x-k8s.io"  # the LWS controller's default leader-election ID
CONTROLLER = "lws-controller-manager"
CONTROLLER_NAMESPACE = "lws-system"
MUTATING = "lws-mutating-webhook-configuration"
VALIDATING = "lws-validating-webhook-configuration"
CRD_NAME = "leaderworkersets.leaderworkerset.x-k8s.io"
DS_GROUP = "disaggregatedset.x-k8s.io"


@dataclass
class Check:
    area: str
    name: str
    status: str
    message: str
    fix: str = ""

    def to_dict(self) -> dict:
        out = {"area": self.area, "check": self.name, "status": self.status, "message": self.message}
        if self.fix:
            out["fix"] = self.fix
        return out


NOT_FOUND, FORBIDDEN = "notfound", "forbidden"  # the two read failures that are answers about the cluster


def could_not_check(area: str, name: str, what: str, error: str | None) -> Check | None:
    """The check for a read that failed for another reason (a 500, a 503, a timeout): "could not check",
    a WARN, never a finding about the cluster ("not found" is only said of a 404). None otherwise."""
    if error in (None, NOT_FOUND, FORBIDDEN):
        return None
    return Check(area, name, WARN, f"could not check {what}: {error}",
                 "run doctor again; if it persists, look at the API server (or the component that answered)")


# ---- API ------------------------------------------------------------------------------------------

def check_server(version: dict | None, error: str | None) -> Check:
    if version is None:
        return Check("API", "server", FAIL, f"API server not reachable: {error}",
                     "check the kubeconfig context (kubectl config current-context) and the network")
    git = version.get("gitVersion", "?")
    try:
        minor = int("".join(ch for ch in str(version.get("minor", "0")) if ch.isdigit()) or 0)
    except ValueError:
        minor = 0
    if minor and minor < 27:
        return Check("API", "server", WARN, f"Kubernetes {git}: worker StatefulSets need ordinals.start "
                     "(1.27+, or 1.26 with StatefulSetStartOrdinal)", "upgrade the cluster to 1.27 or later")
    return Check("API", "server", PASS, f"reachable, Kubernetes {git}")


def check_api_group(group_doc: dict | None, error: str | None) -> Check:
    if group_doc is None:
        failed = could_not_check("API", "lws api", "discovery of leaderworkerset.x-k8s.io", error)
        if failed:
            return failed
        if error == "forbidden":
            return Check("API", "lws api", WARN, "cannot read discovery for leaderworkerset.x-k8s.io (forbidden)",
                         "ask for the system:discovery role")
        return Check("API", "lws api", FAIL, "leaderworkerset.x-k8s.io is not served: LWS is not installed",
                     "install LWS: kubectl apply --server-side -f "
                     "https://github.com/kubernetes-sigs/lws/releases/download/<version>/manifests.yaml")
    versions = [v.get("version", "") for v in group_doc.get("versions") or []]
    preferred = (group_doc.get("preferredVersion") or {}).get("version", "")
    if "v1" not in versions:
        return Check("API", "lws api", FAIL, f"leaderworkerset.x-k8s.io serves {', '.join(versions) or 'nothing'}, "
                     "not v1 (kubectl lws needs v1)", "upgrade LWS to v0.3 or later")
    return Check("API", "lws api", PASS, f"leaderworkerset.x-k8s.io served: {', '.join(versions)}"
                 + (f" (preferred {preferred})" if preferred else ""))


def check_crd(crd: dict | None, error: str | None) -> Check:
    if crd is None:
        failed = could_not_check("API", "lws crd", f"CRD {CRD_NAME}", error)
        if failed:
            return failed
        if error == "forbidden":
            return Check("API", "lws crd", INFO, f"cannot read CRD {CRD_NAME} (forbidden); discovery is enough "
                         "for the plugin")
        return Check("API", "lws crd", FAIL, f"CRD {CRD_NAME} not found", "install or re-apply the LWS manifests")
    versions = (crd.get("spec") or {}).get("versions") or []
    served = [v.get("name", "") for v in versions if v.get("served")]
    storage = [v.get("name", "") for v in versions if v.get("storage")]
    stored = (crd.get("status") or {}).get("storedVersions") or []
    established = any(c.get("type") == "Established" and c.get("status") == "True"
                      for c in (crd.get("status") or {}).get("conditions") or [])
    msg = f"served {', '.join(served) or '-'}, storage {', '.join(storage) or '-'}"
    if stored:
        msg += f", stored {', '.join(stored)}"
    if not established and (crd.get("status") or {}).get("conditions") is not None:
        return Check("API", "lws crd", FAIL, msg + "; not Established",
                     f"kubectl describe crd {CRD_NAME} (names conflict or a broken conversion)")
    return Check("API", "lws crd", PASS, msg)


def check_disaggregated(group_doc: dict | None, error: str | None = None) -> Check:
    if group_doc is None:
        failed = could_not_check("API", "disaggregatedset", f"discovery of {DS_GROUP}", error)
        if failed:
            return failed
        return Check("API", "disaggregatedset", INFO, "DisaggregatedSet CRDs not installed (LWS < v0.10 or not "
                     "enabled); not needed by kubectl lws")
    versions = [v.get("version", "") for v in group_doc.get("versions") or []]
    return Check("API", "disaggregatedset", INFO, f"{DS_GROUP} served: {', '.join(versions)}")


def check_ds_crds(ds: tuple[dict | None, str | None], dsrs: tuple[dict | None, str | None]) -> Check:
    """The DisaggregatedSet CRDs and what their versions tell: the role scaler CRD came with LWS v0.10, and
    a status schema with ``observedGeneration`` with the controllers after v0.10.0 that write status (v0.10.0
    never does: ``status ds/NAME`` then derives the state from the child LWS)."""
    from kubectl_lws.model.keys import DS_CRD_NAME, DSRS_CRD_NAME

    crd, error = ds
    if crd is None:
        if error == "forbidden":
            return Check("API", "disaggregatedset crd", INFO, f"cannot read CRD {DS_CRD_NAME} (forbidden)")
        return Check("API", "disaggregatedset crd", WARN, f"{DS_GROUP} is served but CRD {DS_CRD_NAME} cannot be "
                     f"read ({error or 'not found'})", f"kubectl get crd {DS_CRD_NAME}")
    versions = (crd.get("spec") or {}).get("versions") or []
    served = [v.get("name", "") for v in versions if v.get("served")]
    storage = [v.get("name", "") for v in versions if v.get("storage")]
    status_props = {}
    for v in versions:
        if v.get("storage"):
            status_props = ((((v.get("schema") or {}).get("openAPIV3Schema") or {}).get("properties") or {})
                            .get("status") or {}).get("properties") or {}
    parts = [f"{DS_CRD_NAME}: served {', '.join(served) or '-'}, storage {', '.join(storage) or '-'}"]
    parts.append("status with observedGeneration (a controller after v0.10.0: conditions are read)"
                 if "observedGeneration" in status_props else
                 "status without observedGeneration (v0.9/v0.10.0: the controller writes no status; kubectl lws "
                 "derives the state from the child LWS)")
    scaler, scaler_err = dsrs
    if scaler is not None:
        sv = [v.get("name", "") for v in (scaler.get("spec") or {}).get("versions") or [] if v.get("served")]
        parts.append(f"{DSRS_CRD_NAME}: served {', '.join(sv) or '-'} (slices, placement and External scaling: v0.10+)")
    elif scaler_err == "forbidden":
        parts.append(f"{DSRS_CRD_NAME}: cannot read (forbidden)")
    else:
        parts.append(f"{DSRS_CRD_NAME}: not installed (LWS v0.9: no slices, placement or External roles)")
    return Check("API", "disaggregatedset crd", PASS, "; ".join(parts))


# ---- controller ------------------------------------------------------------------------------------

def image_tag(image: str) -> str:
    """Tag of an image reference ("" when only a digest or none)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def controller_image(deploy: dict) -> str:
    containers = (((deploy.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for c in containers:
        if "lws" in c.get("image", "") or c.get("name") == "manager":
            return c.get("image", "")
    return containers[0].get("image", "") if containers else ""


def check_deployment(deploy: dict | None, error: str | None, namespace: str) -> list[Check]:
    name = ((deploy or {}).get("metadata") or {}).get("name") or CONTROLLER  # found under another name too
    ref = f"{namespace}/{name}"
    if deploy is None:
        failed = could_not_check("Controller", "deployment", f"deployment {ref}", error)
        if failed:
            return [failed]
        if error == "forbidden":
            return [Check("Controller", "deployment", WARN, f"cannot read deployment {ref} (forbidden)",
                          "run doctor as a cluster admin to check the controller")]
        return [Check("Controller", "deployment", FAIL, f"deployment {ref} not found",
                      "install LWS, or pass --controller-namespace where it runs")]
    spec_r = int((deploy.get("spec") or {}).get("replicas", 1) or 0)
    ready = int((deploy.get("status") or {}).get("readyReplicas") or 0)
    image = controller_image(deploy)
    out = []
    if ready < 1:
        fix = (f"kubectl -n {namespace} scale deployment/{name} --replicas=1" if spec_r == 0 else
               f"kubectl -n {namespace} describe deployment/{name}; kubectl -n {namespace} logs "
               f"deployment/{name}")
        what = "scaled to 0 replicas" if spec_r == 0 else f"{ready}/{spec_r} ready"
        out.append(Check("Controller", "deployment", FAIL,
                         f"{ref}: {what}: nothing reconciles LWS and the webhooks do not answer", fix))
    else:
        out.append(Check("Controller", "deployment", PASS, f"{ref}: {ready}/{spec_r} ready"))
    tag = image_tag(image)
    out.append(Check("Controller", "version", INFO if tag else WARN,
                     f"image {image or '-'}" + (f" (LWS {tag})" if tag else ": no tag, version unknown")))
    return out


def check_pods(pods: list[dict] | None, error: str | None, namespace: str) -> Check:
    if pods is None:
        return could_not_check("Controller", "restarts", f"the controller pods in {namespace}", error) or \
            Check("Controller", "restarts", WARN, f"cannot list pods in {namespace} ({error})")
    if not pods:
        return Check("Controller", "restarts", INFO, "no controller pods")
    worst = []
    for p in pods:
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            n = int(cs.get("restartCount") or 0)
            if n:
                last = ((cs.get("lastState") or {}).get("terminated") or {}).get("reason", "")
                worst.append(f"{p['metadata']['name']}/{cs.get('name')}: {n} restart(s)"
                             + (f", last {last}" if last else ""))
    if worst:
        return Check("Controller", "restarts", WARN, "; ".join(worst[:3]),
                     f"kubectl -n {namespace} logs {pods[0]['metadata']['name']} --previous")
    return Check("Controller", "restarts", PASS, f"{len(pods)} pod(s), no restarts")


def check_lease(lease: dict | None, error: str | None, namespace: str, now: datetime) -> Check:
    ref = f"{namespace}/{LEASE_NAME}"
    if lease is None:
        failed = could_not_check("Controller", "leader lease", f"lease {ref}", error)
        if failed:
            return failed
        if error == "forbidden":
            return Check("Controller", "leader lease", WARN, f"cannot read lease {ref} (forbidden)")
        return Check("Controller", "leader lease", FAIL, f"lease {ref} not found: no controller instance "
                     "ever became leader", f"kubectl -n {namespace} logs deployment/{CONTROLLER}")
    spec = lease.get("spec") or {}
    renew = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 15)
    holder = spec.get("holderIdentity") or "-"
    if renew is None:
        return Check("Controller", "leader lease", FAIL, f"lease {ref} was never renewed", "")
    age = (now - renew).total_seconds()
    if age > 2 * duration:
        from kubectl_lws.render.output import human_age

        return Check("Controller", "leader lease", FAIL,
                     f"lease {ref} last renewed {human_age(age)} ago by {holder.split('_')[0]} (duration "
                     f"{duration}s): no controller is leading, LWS changes are not reconciled",
                     f"kubectl -n {namespace} get pods; kubectl -n {namespace} logs deployment/{CONTROLLER}")
    return Check("Controller", "leader lease", PASS, f"held by {holder.split('_')[0]}, renewed {max(age, 0):.0f}s ago")


# ---- webhooks --------------------------------------------------------------------------------------

def ready_endpoints(slices: Iterable[dict]) -> int:
    n = 0
    for s in slices:
        for ep in s.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready", True):
                n += len(ep.get("addresses") or [])
    return n


def check_webhooks(kind: str, name: str, obj: dict | None, error: str | None,
                   slices: dict[tuple[str, str], list[dict] | None], now: datetime) -> list[Check]:
    """One configuration: exists, service endpoints ready, caBundle valid and not expiring, failurePolicy."""
    from kubectl_lws.model.certs import CertError, parse_ca_bundle

    label = "mutating" if kind.startswith("mutating") else "validating"
    if obj is None:
        failed = could_not_check("Webhooks", label, f"{kind} {name}", error)
        if failed:
            return [failed]
        if error == "forbidden":
            return [Check("Webhooks", label, WARN, f"cannot read {kind} {name} (forbidden)",
                          "run doctor as a cluster admin to check the webhooks")]
        return [Check("Webhooks", label, FAIL, f"{kind} {name} not found: LWS objects are not defaulted or "
                      "validated", "re-apply the LWS manifests")]
    out: list[Check] = []
    hooks = obj.get("webhooks") or []
    names = ", ".join(h.get("name", "") for h in hooks)
    out.append(Check("Webhooks", label, PASS, f"{name}: {names or 'no webhooks'}"))
    seen_services: set[tuple[str, str]] = set()
    seen_bundles: set[str] = set()
    for hook in hooks:
        cc = hook.get("clientConfig") or {}
        svc = cc.get("service")
        hname = hook.get("name", "")
        if svc:
            key = (svc.get("namespace", ""), svc.get("name", ""))
            if key not in seen_services:
                seen_services.add(key)
                items = slices.get(key)
                if items is None:
                    out.append(Check("Webhooks", f"{label} service", WARN,
                                     f"cannot read the endpoints of service {key[0]}/{key[1]}"))
                else:
                    n = ready_endpoints(items)
                    if n:
                        out.append(Check("Webhooks", f"{label} service", PASS,
                                         f"service {key[0]}/{key[1]}: {n} ready endpoint(s)"))
                    else:
                        out.append(Check("Webhooks", f"{label} service", FAIL,
                                         f"service {key[0]}/{key[1]} has no ready endpoints: creating or "
                                         f"updating LWS (and their pods) fails",
                                         f"kubectl -n {key[0]} get pods -l control-plane=controller-manager; "
                                         f"scale deployment/{CONTROLLER} up or fix its crash"))
        elif cc.get("url"):
            out.append(Check("Webhooks", f"{label} service", INFO, f"{hname} calls {cc['url']} (not checked)"))
        bundle = cc.get("caBundle") or ""
        if bundle in seen_bundles:
            continue
        seen_bundles.add(bundle)
        try:
            certs = parse_ca_bundle(bundle)
        except CertError as exc:
            out.append(Check("Webhooks", f"{label} caBundle", FAIL, f"{hname}: {exc}",
                             f"restart deployment/{CONTROLLER} so its cert rotator re-injects the CA "
                             "(or check cert-manager's CA injector)"))
            continue
        soonest = min(certs, key=lambda c: c.not_after)
        days = soonest.days_left(now)
        what = f"{hname}: CA {soonest.subject_cn or '?'} expires {soonest.not_after:%Y-%m-%d}"
        if days <= 0:
            out.append(Check("Webhooks", f"{label} caBundle", FAIL, f"{what}: EXPIRED {-days:.0f} day(s) ago; "
                             "the API server cannot call the webhook",
                             f"kubectl -n {CONTROLLER_NAMESPACE} delete secret lws-webhook-server-cert && "
                             f"kubectl -n {CONTROLLER_NAMESPACE} rollout restart deployment/{CONTROLLER}"))
        elif days < EXPIRY_WARN_DAYS:
            out.append(Check("Webhooks", f"{label} caBundle", WARN, f"{what} (in {days:.1f} days)",
                             "make sure the cert rotator or cert-manager renews it before then"))
        else:
            out.append(Check("Webhooks", f"{label} caBundle", PASS, f"{what} ({days:.0f} days left)"))
    ignored = [h.get("name", "") for h in hooks if h.get("failurePolicy", "Fail") == "Ignore"]
    ops = ",".join(f'{{"op":"replace","path":"/webhooks/{i}/failurePolicy","value":"Fail"}}'
                   for i, h in enumerate(hooks) if h.get("failurePolicy", "Fail") == "Ignore")
    if ignored:
        out.append(Check("Webhooks", f"{label} failurePolicy", WARN,
                         f"failurePolicy Ignore on {', '.join(ignored)}: when the webhook is down, invalid or "
                         "undefaulted objects get through",
                         f"kubectl patch {kind.rstrip('s')} {name} --type=json -p '[{ops}]'"))
    elif hooks:
        out.append(Check("Webhooks", f"{label} failurePolicy", PASS, "Fail on every webhook"))
    return out


# ---- permissions -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Perm:
    key: str
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    cluster: bool = False

    def label(self) -> str:
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        return f"{self.verb} {res}"


LWS = "leaderworkerset.x-k8s.io"
PERMS: tuple[Perm, ...] = (
    Perm("get-lws", "get", "leaderworkersets", LWS),
    Perm("list-lws", "list", "leaderworkersets", LWS),
    Perm("watch-lws", "watch", "leaderworkersets", LWS),
    Perm("patch-lws", "patch", "leaderworkersets", LWS),
    Perm("get-scale", "get", "leaderworkersets", LWS, "scale"),
    Perm("patch-scale", "patch", "leaderworkersets", LWS, "scale"),
    Perm("list-pods", "list", "pods"),
    Perm("watch-pods", "watch", "pods"),
    Perm("delete-pods", "delete", "pods"),
    Perm("get-log", "get", "pods", "", "log"),
    Perm("create-exec", "create", "pods", "", "exec"),
    Perm("get-proxy", "get", "pods", "", "proxy"),
    Perm("get-sts", "get", "statefulsets", "apps"),
    Perm("list-sts", "list", "statefulsets", "apps"),
    Perm("list-revisions", "list", "controllerrevisions", "apps"),
    Perm("list-services", "list", "services"),
    Perm("list-events", "list", "events"),
    Perm("watch-events", "watch", "events"),
    Perm("list-hpa", "list", "horizontalpodautoscalers", "autoscaling"),
    Perm("list-nodes", "list", "nodes", cluster=True),
)
# DisaggregatedSets: reviewed and shown only where the cluster serves them (a user of a cluster without them
# lacks nothing)
DS = "disaggregatedset.x-k8s.io"
DS_PERMS: tuple[Perm, ...] = (
    Perm("get-ds", "get", "disaggregatedsets", DS),
    Perm("list-ds", "list", "disaggregatedsets", DS),
    Perm("watch-ds", "watch", "disaggregatedsets", DS),
    Perm("patch-ds", "patch", "disaggregatedsets", DS),
    Perm("list-dsrs", "list", "disaggregatedsetrolescalers", DS),
    Perm("get-dsrs-scale", "get", "disaggregatedsetrolescalers", DS, "scale"),
    Perm("patch-dsrs-scale", "patch", "disaggregatedsetrolescalers", DS, "scale"),
)

# command -> (required permission keys, optional keys whose absence degrades it)
COMMAND_PERMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "list": (("list-lws", "list-pods"), ()),
    "status": (("get-lws", "list-pods"), ("list-nodes",)),
    "status --watch": (("get-lws", "list-lws", "watch-lws", "list-pods", "watch-pods"), ("list-nodes",)),
    "logs": (("get-lws", "list-pods", "get-log"), ()),
    "logs -f": (("get-lws", "list-pods", "watch-pods", "get-log", "watch-lws"), ()),
    "verify env": (("get-lws", "list-pods"), ()),
    "verify env --live / nccl": (("get-lws", "list-pods", "create-exec"), ()),
    "rollout canary/promote/undo": (("get-lws", "patch-lws", "list-pods", "list-revisions"), ("get-sts", "list-hpa")),
    "rollout history": (("get-lws", "list-revisions", "list-pods"), ("get-sts",)),
    "restart": (("get-lws", "list-pods", "delete-pods"), ()),
    "scale": (("get-lws", "get-scale", "patch-scale"), ("list-hpa",)),
    "report": (("get-lws",), ("list-pods", "list-sts", "list-services", "list-events", "list-revisions", "get-log",
                              "list-nodes")),
    "events": (("get-lws", "list-events"), ()),
    "events -w": (("get-lws", "list-events", "watch-events"), ()),
    "metrics": (("get-lws", "list-pods", "get-proxy"), ()),
    "map": (("list-lws", "list-pods"), ("list-nodes",)),
    "record": (("get-lws", "list-lws", "watch-lws", "list-pods", "watch-pods"),
               ("get-log", "list-events", "watch-events")),
    "history (from the cluster)": (("get-lws", "list-pods"), ("list-events",)),
    "dashboard": (("list-lws", "watch-lws", "list-pods", "watch-pods"), ("list-nodes", "list-events", "watch-events")),
}


DS_COMMAND_PERMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "list (sets)": (("list-lws", "list-pods", "list-ds"), ("list-dsrs",)),
    "status ds/": (("get-ds", "list-lws", "list-pods"), ("list-services", "list-dsrs", "list-hpa", "list-nodes")),
    "status/rollout status ds/ --watch": (("get-ds", "list-ds", "watch-ds", "list-lws", "watch-lws", "list-pods",
                                           "watch-pods"), ()),
    "logs/verify/events ds/": (("get-ds", "list-lws", "list-pods"), ("get-log", "list-events")),
    "scale ds/ (Static, slices)": (("get-ds", "patch-ds", "list-lws", "list-pods"), ()),
    "scale ds/ (External)": (("get-ds", "list-dsrs", "get-dsrs-scale", "patch-dsrs-scale"), ("list-hpa",)),
    "restart ds/": (("get-ds", "list-lws", "list-pods", "delete-pods"), ()),
}

# a FAIL when one of these cannot work (the DisaggregatedSet ones are a WARN: every LWS since v0.9 serves the
# API, and a user of LWS alone need not read sets)
READ_COMMANDS = frozenset({"list", "status", "logs", "verify env"})


def permission_matrix(allowed: dict[str, bool | None], ds: bool = False) -> list[dict]:
    """Per command: works / degraded / no, with the missing permissions named; ``ds`` adds the
    DisaggregatedSet commands (where the cluster serves them)."""
    by_key = {p.key: p for p in PERMS + DS_PERMS}
    commands = {**COMMAND_PERMS, **(DS_COMMAND_PERMS if ds else {})}
    rows = []
    for command, (required, optional) in commands.items():
        missing = [by_key[k].label() for k in required if allowed.get(k) is False]
        unknown = [by_key[k].label() for k in required if allowed.get(k) is None]
        degraded = [by_key[k].label() for k in optional if allowed.get(k) is False]
        state = "no" if missing else ("unknown" if unknown else ("degraded" if degraded else "yes"))
        rows.append({"command": command, "works": state, "missing": missing + unknown, "degraded": degraded})
    return rows


def check_permissions(allowed: dict[str, bool | None], namespace: str) -> list[Check]:
    """``allowed`` holds the DisaggregatedSet permissions too where the cluster serves them."""
    by_key = {p.key: p for p in PERMS + DS_PERMS}
    denied = [by_key[k] for k, v in allowed.items() if v is False]
    unknown = [k for k, v in allowed.items() if v is None]
    out = []
    if unknown and len(unknown) == len(allowed):
        return [Check("Permissions", "access reviews", WARN, "SelfSubjectAccessReview failed: permissions unknown",
                      "the cluster must serve authorization.k8s.io/v1")]
    ns_denied = [p for p in denied if not p.cluster]
    if ns_denied:
        rows = permission_matrix(allowed, ds=any(k in allowed for k in (p.key for p in DS_PERMS)))
        broken = [r["command"] for r in rows if r["works"] == "no"]
        # reading is what the plugin is for: a read-only user gets a WARN, not an unhealthy verdict
        status = FAIL if any(c in READ_COMMANDS for c in broken) else WARN
        out.append(Check("Permissions", "namespace", status,
                         f"in namespace {namespace}: denied {', '.join(p.label() for p in ns_denied)}"
                         + (f"; not usable: {', '.join(broken)}" if broken else ""),
                         "ask for a Role granting these verbs (see docs/doctor.md for a minimal Role)"))
    else:
        out.append(Check("Permissions", "namespace", PASS, f"every verb the plugin uses is allowed in {namespace}"))
    if any(p.key == "list-nodes" for p in denied):
        out.append(Check("Permissions", "nodes", WARN, "cannot list nodes: placement degraded (status shows node "
                         "names only, NotReady nodes are not detected)",
                         "ask for a ClusterRole with get/list nodes, or use status --no-placement"))
    elif "list-nodes" in allowed:
        out.append(Check("Permissions", "nodes", PASS, "nodes readable (placement and NotReady detection)"))
    return out


# ---- cluster facts ---------------------------------------------------------------------------------

def _intstr(value: Any, replicas: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return int(replicas * float(value[:-1]) / 100)
        except ValueError:
            return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def check_max_unavailable(lws_items: list[dict] | None, sts: dict[str, dict],
                          error: str | None = None) -> list[Check]:
    """The API server drops StatefulSet maxUnavailable when MaxUnavailableStatefulSet is off (golden D2)."""
    if lws_items is None:
        failed = could_not_check("Cluster", "statefulset maxUnavailable", "the LeaderWorkerSets here", error)
        return [failed] if failed else []
    hits: list[str] = []
    for lws in lws_items:
        spec = lws.get("spec") or {}
        ruc = (spec.get("rolloutStrategy") or {}).get("rollingUpdateConfiguration") or {}
        replicas = int(spec.get("replicas", 1) or 0)
        mu = _intstr(ruc.get("maxUnavailable", 1), replicas)
        if mu <= 1:
            continue
        name = lws["metadata"]["name"]
        leader = sts.get(name)
        if leader is None:
            continue
        rolling = ((leader.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
        if "maxUnavailable" not in rolling:
            hits.append(f"{name} (maxUnavailable {mu})")
    if not hits:
        return [Check("Cluster", "statefulset maxUnavailable", INFO,
                      "no LWS here asks for maxUnavailable > 1 with a leader StatefulSet that lost it")]
    return [Check("Cluster", "statefulset maxUnavailable", WARN,
                  f"the API server drops StatefulSet maxUnavailable (MaxUnavailableStatefulSet gate off): "
                  f"{', '.join(hits)} replace leaders one at a time, rollouts are slower than configured",
                  "enable the MaxUnavailableStatefulSet feature gate on kube-apiserver and "
                  "kube-controller-manager, or expect one group at a time")]


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    matrix: list[dict] = field(default_factory=list)
    context: dict = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out = {PASS: 0, WARN: 0, FAIL: 0, INFO: 0}
        for c in self.checks:
            out[c.status] += 1
        return out

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.checks)

    def to_dict(self) -> dict:
        counts = self.counts
        return {"kind": "DoctorReport", **self.context, "checks": [c.to_dict() for c in self.checks],
                "permissions": self.matrix,
                "summary": {"pass": counts[PASS], "warn": counts[WARN], "fail": counts[FAIL], "info": counts[INFO],
                            "healthy": not self.failed}}
