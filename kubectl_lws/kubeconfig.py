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
    as_uid: str | None = None
    certificate_authority: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    insecure_skip_tls_verify: bool = False
    request_timeout: float | None = None


MAX_DURATION = (2**63 - 1) / 1e9


def parse_duration(text: str) -> float:
    """Parse kubectl/Go durations: ``0``, ``30`` (seconds), ``30s``, ``1m30s``, ``1h``, ``500ms``."""
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        if float(value) > MAX_DURATION:
            raise UsageError(f'invalid duration "{text}": at most {MAX_DURATION:.0f}s (about 292 years)')
        return float(value)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise UsageError(f'invalid duration "{text}": use forms like 30s, 1m30s, 2h or plain seconds')
    total = sum(float(n) * units[u] for n, u in parts)
    if total > MAX_DURATION:  # Go's time.Duration (int64 ns); larger would overflow sleeps and waits
        raise UsageError(f'invalid duration "{text}": at most {MAX_DURATION:.0f}s (about 292 years)')
    return total


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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"malformed kubeconfig {path}: not a text (UTF-8) file, invalid byte at offset "
                          f"{exc.start}; is --kubeconfig/KUBECONFIG pointing at the right file?") from exc
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


def impersonation_headers(settings: ConnectionSettings, user: dict) -> list[tuple[str, str]]:
    """The ``Impersonate-*`` headers every request carries (exec sessions too), in one place.

    client-go's rules: ``--as``/``--as-group``/``--as-uid`` override the kubeconfig user's ``as``,
    ``as-groups``, ``as-uid`` (each on its own); ``as-user-extra`` adds ``Impersonate-Extra-<key>``.
    Groups, a uid or extras without a user are refused before anything is sent (kube-apiserver would
    refuse them too): flags with exit 2, a kubeconfig with exit 1.
    """
    from urllib.parse import quote

    user = user if isinstance(user, dict) else {}
    name = settings.as_user or _text(user.get("as"))
    groups = list(settings.as_groups) or [_text(g) for g in (user.get("as-groups") or []) if _text(g)]
    uid = settings.as_uid or _text(user.get("as-uid"))
    extra = user.get("as-user-extra") if isinstance(user.get("as-user-extra"), dict) else {}
    if not name and (groups or uid or extra):
        what = ", ".join(w for w, given in (("groups", groups), ("a uid", uid), ("user-extra", extra)) if given)
        flags = bool(settings.as_groups or settings.as_uid)
        error = UsageError if flags else ConfigError
        raise error(f"requesting {what} without impersonating a user",
                    hint="add --as USER" if flags else "set the kubeconfig user's `as` (or pass --as USER)")
    headers: list[tuple[str, str]] = []
    if name:
        headers.append(("Impersonate-User", name))
    headers += [("Impersonate-Group", g) for g in groups]
    if uid:
        headers.append(("Impersonate-Uid", uid))
    for key, values in sorted(extra.items()):
        for value in values if isinstance(values, list) else [values]:
            headers.append((f"Impersonate-Extra-{quote(str(key), safe='')}", _text(value)))
    for header, value in headers:  # a header value cannot hold a line break (it would split the request)
        if any(ch in value for ch in "\r\n\0"):
            raise UsageError(f"invalid impersonation value for {header}: it holds a line break or NUL")
    return headers


def _text(value: Any) -> str:
    return "" if value is None else str(value)


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


def check_server_url(url: str) -> str:
    """A server address a URL parser accepts (``http://[::1`` or a bad port is a UsageError, exit 2).

    A bare ``host:port`` is allowed: like kubectl, the scheme is chosen later (``default_scheme``).
    """
    from urllib.parse import urlsplit

    text = url.strip()
    try:
        parts = urlsplit(text if "://" in text else f"http://{text}")
        parts.port  # noqa: B018 — raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise UsageError(f'invalid server URL "{url}": {exc} (e.g. https://10.0.0.1:6443 or '
                         "https://[::1]:6443)") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f'invalid server URL "{url}": the scheme must be http or https')
    if not parts.hostname:
        raise UsageError(f'invalid server URL "{url}": no host (e.g. https://10.0.0.1:6443)')
    return text


def default_scheme(url: str, tls: bool) -> str:
    """kubectl's rule for a server without a scheme: https when TLS settings are given, else http."""
    return url if "://" in url else ("https://" if tls else "http://") + url
