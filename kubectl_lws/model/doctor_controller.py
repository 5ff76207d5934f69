"""``doctor``: find the LWS controller wherever it runs, and say how it was found.

Why: a managed add-on, an operator or a controller run outside the cluster installs LWS under another
name or namespace than ``lws-system/lws-controller-manager``; looking only there reports it missing
(deployment not found, no lease) while it reconciles every LWS. The evidence, in order: the pods behind
the webhook configurations' service (their ReplicaSet names the Deployment), a ``url`` webhook (served
from outside the cluster), the leader lease's holder, and what the controller leaves on the LWS here:
``status.observedGeneration`` caught up with ``metadata.generation`` and its recent events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from kubectl_lws.model.doctor import CONTROLLER, FAIL, INFO, PASS, WARN, Check
from kubectl_lws.model.timeutil import parse_time

# The LWS controller's event source (golden events: reportingComponent "leaderworkerset").
CONTROLLER_COMPONENT = "leaderworkerset"
_RS_HASH = re.compile(r"^(?P<deploy>.+)-[a-z0-9]{5,10}$")


@dataclass
class Located:
    """Where the controller was found (``deployment`` None: not as a Deployment in the cluster)."""

    namespace: str | None = None
    deployment: str | None = None
    pods: list[str] = field(default_factory=list)
    how: list[str] = field(default_factory=list)  # one sentence per piece of evidence
    outside: bool = False  # served from outside the cluster (url webhook, a lease holder that is no pod)

    def to_json(self) -> dict:
        return {"namespace": self.namespace, "deployment": self.deployment, "pods": list(self.pods),
                "how": list(self.how), "outsideCluster": self.outside}


def endpoint_pods(slices: Iterable[dict] | None) -> list[tuple[str, str]]:
    """(namespace, pod) of every endpoint of the webhook service (``targetRef``), ready ones first."""
    out: list[tuple[bool, str, str]] = []
    for s in slices or []:
        for ep in s.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            if ref.get("kind") == "Pod" and ref.get("name"):
                ready = bool((ep.get("conditions") or {}).get("ready", True))
                out.append((not ready, ref.get("namespace") or (s.get("metadata") or {}).get("namespace", ""),
                            ref["name"]))
    return [(ns, name) for _, ns, name in sorted(set(out))]


def deployment_of(pod: dict) -> str | None:
    """The Deployment a pod belongs to: its ReplicaSet owner's name without the template hash."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet" and ref.get("name"):
            m = _RS_HASH.match(ref["name"])
            return m.group("deploy") if m else ref["name"]
    return None


def webhook_urls(*configs: dict | None) -> list[str]:
    return sorted({(h.get("clientConfig") or {}).get("url") for c in configs if isinstance(c, dict)
                   for h in c.get("webhooks") or [] if (h.get("clientConfig") or {}).get("url")})


def locate(default_ns: str, services: list[tuple[str, str]], slices: dict[tuple[str, str], list[dict] | None],
           pods: dict[tuple[str, str], dict | None], urls: list[str], lease: dict | None,
           lease_ns: str) -> Located:
    """Put the evidence together (no request: the command fetched it)."""
    found = Located()
    for svc in services:
        for ns, name in endpoint_pods(slices.get(svc)):
            pod = pods.get((ns, name))
            if pod is None:
                continue
            found.namespace = ns
            found.pods.append(name)
            deploy = deployment_of(pod)
            if deploy and found.deployment is None:
                found.deployment = deploy
                found.how.append(f"webhook service {svc[0]}/{svc[1]} is served by pod {name} of deployment "
                                 f"{ns}/{deploy}")
        if found.pods and found.deployment is None:
            found.how.append(f"webhook service {svc[0]}/{svc[1]} is served by pod(s) {', '.join(found.pods)} "
                             "(not from a Deployment)")
    if urls:
        found.outside = not found.pods
        found.how.append(f"webhooks call {', '.join(urls)} (a controller serving from outside the cluster)")
    holder = ((lease or {}).get("spec") or {}).get("holderIdentity") or ""
    if holder:
        pod_name = holder.split("_")[0]
        if any(name == pod_name for _, name in pods) or pod_name in found.pods:
            found.how.append(f"leader lease {lease_ns}/{(lease or {}).get('metadata', {}).get('name')} is held by "
                             f"pod {pod_name}")
        else:
            found.how.append(f"leader lease {lease_ns}/{(lease or {}).get('metadata', {}).get('name')} is held by "
                             f"{pod_name}, which is no pod in {lease_ns}")
            if not found.pods:
                found.outside = True
                found.namespace = found.namespace or lease_ns
    if found.namespace is None:
        found.namespace = default_ns
    return found


def reconciling(lws_items: list[dict] | None, events: list[dict] | None, now: datetime,
                namespace: str) -> tuple[Check | None, bool]:
    """Whether something reconciles the LWS here: every LWS's ``observedGeneration`` caught up, and the
    controller's newest event. Returns the check (None without LWS to judge) and the verdict."""
    if not lws_items:
        return None, False
    behind = []
    for lws in lws_items:
        meta = lws.get("metadata") or {}
        gen = meta.get("generation")
        seen = (lws.get("status") or {}).get("observedGeneration")
        if isinstance(gen, int) and (not isinstance(seen, int) or seen < gen):
            behind.append(f"{meta.get('name')} (generation {gen}, observed {seen if seen is not None else '-'})")
    newest = None
    for ev in events or []:
        src = ev.get("reportingComponent") or (ev.get("source") or {}).get("component") or \
            ev.get("reportingController")
        if src != CONTROLLER_COMPONENT:
            continue
        t = parse_time(ev.get("eventTime") or ev.get("lastTimestamp") or (ev.get("series") or {}).get("lastObservedTime")
                       or (ev.get("metadata") or {}).get("creationTimestamp"))
        if t and (newest is None or t > newest):
            newest = t
    last = ""
    if newest is not None:
        from kubectl_lws.render.output import human_age

        last = f"; its last event {human_age(max((now - newest).total_seconds(), 0))} ago"
    n = len(lws_items)
    if behind:
        return Check("Controller", "reconciling", WARN,
                     f"{len(behind)}/{n} LWS in {namespace} not observed at their generation: {', '.join(behind[:3])}"
                     + last, "kubectl lws doctor --controller-namespace NS where the controller runs; check its logs"), False
    return Check("Controller", "reconciling", PASS, f"{n}/{n} LWS in {namespace} observed at their generation" + last), True


def soften(checks: list[Check], located: Located, live: bool, default_ns: str) -> list[Check]:
    """A missing ``lws-controller-manager`` or lease is not a failure when the controller demonstrably runs
    elsewhere (found behind the webhooks, or reconciling every LWS here): say what was found and how."""
    if not live and not located.outside:
        return checks
    where = "outside the cluster" if located.outside else f"in {located.namespace}"
    evidence = "; ".join(located.how) or "every LWS here is observed at its generation"
    out = []
    for c in checks:
        if c.status == FAIL and c.name in ("deployment", "leader lease") and "not found" in c.message:
            out.append(Check(c.area, c.name, INFO, f"{c.message}, but a controller runs {where}: {evidence}"))
        else:
            out.append(c)
    return out


def located_check(located: Located) -> Check:
    if located.deployment:
        return Check("Controller", "located", PASS, f"{located.namespace}/{located.deployment}: "
                     + "; ".join(located.how))
    if located.how:
        return Check("Controller", "located", INFO, "; ".join(located.how))
    return Check("Controller", "located", INFO, f"no webhook endpoints or lease holder point at the controller; "
                 f"looked for deployment {CONTROLLER}")
