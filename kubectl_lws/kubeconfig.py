"""Connection settings: kubectl's flags, KUBECONFIG merging and namespace resolution.

The Python client loads one kubeconfig file; kubectl merges every file named in ``KUBECONFIG``.
We merge the files ourselves (kubectl's rules: the first file to set a value wins, named entries
are merged by name, relative paths resolve against the file that named them) and hand the merged
document to the client. This module imports only yaml, so completion can read contexts cheaply.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_lws.errors import ConfigError, UsageError

IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_KUBECONFIG = "~/.kube/config"
_PATH_KEYS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


@dataclass
class ConnectionSettings:
    """kubectl's connection flags, as given on the command line (None = not given)."""

    kubeconfig: str | None = None
    context: str | None = None
    cluster: str | None = None
    user: str | None = None
    namespace: str | None = None
    server: str | None = None
    token: str | None = None
    as_user: str | None = None
    as_groups: list[str] = field(default_factory=list)
    certificate_authority: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    insecure_skip_tls_verify: bool = False
    request_timeout: float | None = None


def parse_duration(text: str) -> float:
    """Parse kubectl/Go durations: ``0``, ``30`` (seconds), ``30s``, ``1m30s``, ``1h``, ``500ms``."""
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise UsageError(f'invalid duration "{text}": use forms like 30s, 1m30s, 2h or plain seconds')
    return sum(float(n) * units[u] for n, u in parts)


def kubeconfig_paths(explicit: str | None, environ: dict[str, str] | None = None) -> list[Path]:
    """The files kubectl would read, in precedence order."""
    env = os.environ if environ is None else environ
    if explicit:
        return [Path(explicit).expanduser()]
    if env.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
    return [Path(DEFAULT_KUBECONFIG).expanduser()]


def _absolutize(entry: dict, kind: str, base: Path) -> dict:
    body = dict(entry.get(kind) or {})
    for key in _PATH_KEYS[kind]:
        value = body.get(key)
        if value and not os.path.isabs(os.path.expanduser(value)):
            body[key] = str((base / value).resolve())
    return {**entry, kind: body}


def load_file(path: Path) -> dict:
    """Read one kubeconfig file; malformed YAML is a ConfigError naming the file."""
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    try:
        # libyaml's loader when present: several times faster than the pure-Python one on start-up
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise ConfigError(f"malformed kubeconfig {path}: {first}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"malformed kubeconfig {path}: expected a mapping at the top level")
    return data


def merge_kubeconfigs(paths: list[Path], *, explicit: bool = False) -> dict:
    """Merge kubeconfig files the way kubectl does: the first definition of each name wins."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                              "contexts": [], "preferences": {}}
    seen: dict[str, set[str]] = {"clusters": set(), "users": set(), "contexts": set()}
    found_any = False
    for path in paths:
        if not path.exists():
            if explicit:
                raise ConfigError(f"kubeconfig {path} does not exist")
            continue
        found_any = True
        data = load_file(path)
        base = path.resolve().parent
        if data.get("current-context") and not merged.get("current-context"):
            merged["current-context"] = data["current-context"]
        for section, kind in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in data.get(section) or []:
                if not isinstance(entry, dict) or not entry.get("name"):
                    continue
                if entry["name"] in seen[section]:
                    continue
                seen[section].add(entry["name"])
                if kind in _PATH_KEYS:
                    entry = _absolutize(entry, kind, base)
                merged[section].append(entry)
    merged["_found"] = found_any
    return merged


def _named(config: dict, section: str, name: str) -> dict | None:
    for entry in config.get(section) or []:
        if entry.get("name") == name:
            return entry
    return None


@dataclass
class ResolvedConfig:
    """What the cluster module needs: the merged document and the choices made from flags."""

    settings: ConnectionSettings
    kubeconfig: dict | None  # None: in-cluster or flags only
    context_name: str | None
    namespace: str
    in_cluster: bool = False


def resolve(settings: ConnectionSettings, environ: dict[str, str] | None = None) -> ResolvedConfig:
    """Pick the config source and namespace with kubectl's precedence."""
    env = os.environ if environ is None else environ
    paths = kubeconfig_paths(settings.kubeconfig, env)
    config = merge_kubeconfigs(paths, explicit=bool(settings.kubeconfig))
    context_name = settings.context or config.get("current-context") or None
    if config.pop("_found"):
        context = None
        if context_name:
            entry = _named(config, "contexts", context_name)
            if entry is None:
                if settings.context or not settings.server:
                    raise ConfigError(f'context "{context_name}" does not exist in the kubeconfig '
                                      f"({', '.join(str(p) for p in paths)})")
            else:
                context = dict(entry.get("context") or {})
        if context is None and not settings.server:
            raise ConfigError("the kubeconfig has no current context: pass --context or --server")
        if context is not None:
            if settings.cluster:
                if _named(config, "clusters", settings.cluster) is None:
                    raise ConfigError(f'cluster "{settings.cluster}" does not exist in the kubeconfig')
                context["cluster"] = settings.cluster
            if settings.user:
                if _named(config, "users", settings.user) is None:
                    raise ConfigError(f'user "{settings.user}" does not exist in the kubeconfig')
                context["user"] = settings.user
            if _named(config, "clusters", context.get("cluster", "")) is None and not settings.server:
                raise ConfigError(f'cluster "{context.get("cluster")}" of context "{context_name}" '
                                  "does not exist in the kubeconfig")
            config["contexts"] = [c if c.get("name") != context_name else {"name": context_name,
                                  "context": context} for c in config["contexts"]]
        namespace = settings.namespace or (context or {}).get("namespace") or "default"
        return ResolvedConfig(settings, config, context_name if context is not None else None, namespace)
    if settings.kubeconfig:
        raise ConfigError(f"kubeconfig {settings.kubeconfig} does not exist")
    if env.get("KUBERNETES_SERVICE_HOST") and not settings.server:
        namespace = settings.namespace or _in_cluster_namespace() or "default"
        return ResolvedConfig(settings, None, None, namespace, in_cluster=True)
    if settings.server:
        return ResolvedConfig(settings, None, None, settings.namespace or "default")
    raise ConfigError("no kubeconfig found (looked at " + ", ".join(str(p) for p in paths)
                      + ") and not running inside a cluster: pass --kubeconfig or --server")


def _in_cluster_namespace() -> str | None:
    try:
        return Path(IN_CLUSTER_NAMESPACE_FILE).read_text().strip() or None
    except OSError:
        return None


def context_names(settings: ConnectionSettings | None = None) -> list[str]:
    """Context names for completion; never raises."""
    try:
        paths = kubeconfig_paths(settings.kubeconfig if settings else None)
        config = merge_kubeconfigs(paths)
        return [c["name"] for c in config.get("contexts", [])]
    except Exception:  # completion must never fail loudly
        return []
