"""Authorization as kube-apiserver's RBAC authorizer does it, over the Roles and bindings the sandbox stores.

A request is allowed when a rule of the caller's token (the sandbox's own rule sets, ``rules=None`` for
all rights) or a rule reached through a binding allows it: a ClusterRoleBinding grants its ClusterRole's
rules everywhere, a RoleBinding grants its Role's (or ClusterRole's) rules in its own namespace. Subjects
match by user name, by group (every authenticated caller is in ``system:authenticated``; a service
account ``system:serviceaccount:NS:NAME`` is also in ``system:serviceaccounts`` and
``system:serviceaccounts:NS``) or as a ServiceAccount. Not emulated: aggregated ClusterRoles
(``aggregationRule``) and non-resource URLs (discovery, /version and health stay open to everyone).

Rules are plain dicts: ``verbs``, ``apiGroups`` (None: any), ``resources`` (``plural`` or
``plural/sub``, ``*``), ``resourceNames`` (optional), ``namespaces`` (None: every namespace and the
cluster scope; a list: only there).
"""
from __future__ import annotations

from typing import Any, Iterable

GROUP = "rbac.authorization.k8s.io"
KINDS = tuple(f"{plural}.{GROUP}" for plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings"))
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"

# What kube's system:basic-user and system:discovery give every authenticated caller.
BASIC_USER_RULES: list[dict] = [
    {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
     "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
    {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
]


def groups_of(user: str, extra: Iterable[str] = ()) -> list[str]:
    """The groups kube's authenticators give ``user`` (service accounts get theirs from the name)."""
    groups = list(extra)
    if user.startswith(SA_PREFIX):
        namespace = user[len(SA_PREFIX):].split(":", 1)[0]
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    if AUTHENTICATED not in groups and user != "system:anonymous":
        groups.append(AUTHENTICATED)
    return groups


def _subject_matches(subject: dict, user: str, groups: list[str], binding_ns: str | None) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_ns
        return user == f"{SA_PREFIX}{namespace}:{name}"
    return False


def bound_rules(store: Any, user: str, groups: list[str]) -> list[dict]:
    """Every rule reached through a binding whose subjects include the caller, scoped as bound."""
    out: list[dict] = []
    cluster_roles = {r["metadata"]["name"]: r for r in store.list(f"clusterroles.{GROUP}")}
    for crb in store.list(f"clusterrolebindings.{GROUP}"):
        ref = crb.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole" and any(
                _subject_matches(s, user, groups, None) for s in crb.get("subjects") or []):
            out += _scoped((cluster_roles.get(ref.get("name")) or {}).get("rules"), None)
    for rb in store.list(f"rolebindings.{GROUP}"):
        ns = rb["metadata"].get("namespace")
        if not any(_subject_matches(s, user, groups, ns) for s in rb.get("subjects") or []):
            continue
        ref = rb.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = cluster_roles.get(ref.get("name"))
        else:
            role = store.get(f"roles.{GROUP}", ns, ref.get("name") or "")
        out += _scoped((role or {}).get("rules"), [ns])
    return out


def _scoped(rules: list[dict] | None, namespaces: list[str] | None) -> list[dict]:
    return [{**rule, "namespaces": namespaces} for rule in rules or [] if isinstance(rule, dict)]


def rule_allows(rule: dict, verb: str, group: str, resource: str, namespace: str | None,
                name: str | None) -> bool:
    """Does one rule allow ``verb`` on ``resource`` (``plural`` or ``plural/sub``) of ``group``?"""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and verb not in verbs:
        return False
    resources = set(rule.get("resources") or [])
    plural = resource.split("/", 1)[0]
    if not ({"*", resource} & resources or (resource != plural and f"{plural}/*" in resources)):
        return False
    api_groups = rule.get("apiGroups")
    if api_groups is not None and "*" not in api_groups and group not in api_groups:
        return False
    names = rule.get("resourceNames")
    if names and (name is None or name not in names):
        return False
    namespaces = rule.get("namespaces")
    if namespaces is not None and "*" not in namespaces and (namespace is None or namespace not in namespaces):
        return False
    return True
