"""Errors and exit codes: every failure a user can meet becomes one of these.

The CLI entry point (``kubectl_lws.cli.main``) turns any ``LwsError`` into one line on stderr and
its ``exit_code``; nothing else in the product prints errors or calls ``sys.exit``.
"""

from __future__ import annotations

from typing import Iterable

# Documented exit codes (README "Exit codes").
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNHEALTHY = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM: ends like Ctrl-C (the command's summary first)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt so every command's interrupt
    path (close streams and exec sessions, print what was done) runs the same; exit 143."""


class LwsError(Exception):
    """Base error: ``str(err)`` is the whole message the user sees after ``error: ``."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(LwsError):
    """Bad flags or arguments detected after click parsed them (exit 2)."""

    exit_code = EXIT_USAGE


class UnhealthyError(LwsError):
    """A check ran and found a problem (exit 3)."""

    exit_code = EXIT_UNHEALTHY


class WaitTimeout(LwsError):
    """An awaited condition was not met in time (exit 4)."""

    exit_code = EXIT_TIMEOUT


class ConfigError(LwsError):
    """Missing or malformed kubeconfig, unknown context/cluster/user."""


class ApiError(LwsError):
    """The API server answered with an error ``Status``."""

    def __init__(self, message: str, *, code: int, reason: str = "", status: dict | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.reason = reason
        self.status = status or {}


class NotFound(ApiError):
    """404 for a named object."""


class Conflict(ApiError):
    """409: stale resourceVersion or already exists."""


class Forbidden(ApiError):
    """403: RBAC denial or admission webhook denial."""


class Unauthorized(ApiError):
    """401: the credentials were rejected."""


class Invalid(ApiError):
    """400/422: the server rejected the request body or query."""


class LwsApiMissing(LwsError):
    """The cluster does not serve leaderworkerset.x-k8s.io/v1."""

    def __init__(self) -> None:
        super().__init__("leaderworkerset.x-k8s.io/v1 is not served by this cluster: "
                         "is the LWS controller installed?")


class DsApiMissing(LwsError):
    """The cluster does not serve disaggregatedset.x-k8s.io/v1 (no DisaggregatedSet CRD)."""

    def __init__(self) -> None:
        super().__init__("disaggregatedset.x-k8s.io/v1 is not served by this cluster: the DisaggregatedSet CRD "
                         "is not installed (it comes with the LWS controller v0.9 and later)",
                         hint="check with: kubectl lws doctor")


class Unreachable(LwsError):
    """The server could not be reached at all (DNS, refused, TLS)."""


class RequestTimeout(LwsError):
    """A single request exceeded --request-timeout."""


def lws_not_found(name: str, namespace: str, existing: Iterable[str] = ()) -> NotFound:
    """The not-found error every command gives for a missing LWS, with close names suggested."""
    return _not_found("leaderworkerset", name, namespace, existing, "")


def ds_not_found(name: str, namespace: str, existing: Iterable[str] = ()) -> NotFound:
    """The same for a missing DisaggregatedSet (close names are suggested as ``ds/NAME``)."""
    return _not_found("disaggregatedset", name, namespace, existing, "ds/")


def _not_found(kind: str, name: str, namespace: str, existing: Iterable[str], prefix: str) -> NotFound:
    import difflib  # only on this error path: not a cost of every command's start

    names = sorted(existing)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = None
    if close:
        hint = "did you mean " + " or ".join(f'"{prefix}{c}"' for c in close) + "? (see: kubectl lws list)"
    else:
        hint = f"see: kubectl lws list -n {namespace}"
    return NotFound(f'{kind} "{name}" not found in namespace "{namespace}"', code=404,
                    reason="NotFound", hint=hint)
