"""Kubernetes-shaped API errors for the sandbox.

Every failure the sandbox API server returns is a ``Status`` body whose key order and wording match the
recordings in ``shared/golden/http/errors`` byte for byte, because clients (kubectl, the kubernetes
client, our own plugin) print or parse those messages.
"""
from __future__ import annotations

import contextvars
from typing import Any

# Admission warnings of the request being admitted (a validating webhook's ``admission.Warnings``); the API
# server collects them around its admission call and answers each as a ``Warning: 299 - "..."`` header.
ADMISSION_WARNINGS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("admission_warnings",
                                                                                      default=None)


def warn(text: str) -> None:
    """Record an admission warning for the current request (dropped outside a request, e.g. scenarios)."""
    collected = ADMISSION_WARNINGS.get()
    if collected is not None:
        collected.append(text)


_REASON_PHRASES = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


class ApiError(Exception):
    """An error that the API server turns into a ``Status`` response (``reason=None`` omits the key, as
    kube does for admission-webhook 400s)."""

    def __init__(self, code: int, reason: str | None, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        """The ``Status`` object with the exact key order kube-apiserver serializes."""
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"


def qualified(resource_plural: str, group: str = "") -> str:
    """``leaderworkersets.leaderworkerset.x-k8s.io`` or ``pods``: how kube names a resource in messages."""
    return f"{resource_plural}.{group}" if group else resource_plural


def _details(name: str | None, group: str, kind: str, causes: list | None = None) -> dict:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    if causes is not None:
        d["causes"] = causes
    return d


def not_found(resource_plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource_plural, group)} "{name}" not found',
                    _details(name, group, resource_plural))


def already_exists(resource_plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource_plural, group)} "{name}" already exists',
                    _details(name, group, resource_plural))


def conflict(resource_plural: str, name: str, group: str = "",
             reason_text: str = "the object has been modified; please apply your changes to the latest version "
                                "and try again") -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource_plural, group)} "{name}": {reason_text}',
                    _details(name, group, resource_plural))


def invalid(kind: str, name: str, causes: list[dict], group: str = "") -> ApiError:
    """422 Invalid. ``causes`` are ``{"reason", "message", "field"}`` dicts; the top message lists them as
    ``field: message`` (bracketed when there are several), as kube does."""
    parts = [f"{c.get('field', '')}: {c.get('message', '')}" for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qual = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qual} "{name}" is invalid: {joined}', _details(name, group, kind, causes))


def field_invalid(field: str, value: Any, detail: str) -> dict:
    """One ``FieldValueInvalid`` cause with Go's value rendering (strings quoted, numbers bare)."""
    import json
    shown = json.dumps(value) if isinstance(value, str) else value
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {shown}: {detail}", "field": field}


def forbidden(message: str, details: dict | None = None) -> ApiError:
    """403 Forbidden; webhook denials carry no details, RBAC denials do."""
    return ApiError(403, "Forbidden", message, details)


def rbac_forbidden(user: str, verb: str, resource_plural: str, group: str, namespace: str | None,
                   name: str | None = None, subresource: str | None = None) -> ApiError:
    """The RBAC denial text kube-apiserver writes (``at the cluster scope`` when no namespace)."""
    res = f"{resource_plural}/{subresource}" if subresource else resource_plural
    subject = qualified(resource_plural, group)
    head = f'{subject} "{name}" is forbidden' if name else f"{subject} is forbidden"
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    msg = f'{head}: User "{user}" cannot {verb} resource "{res}" in API group "{group}" {where}'
    return ApiError(403, "Forbidden", msg, _details(name, group, resource_plural))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def reason_for(code: int) -> str:
    return _REASON_PHRASES.get(code, "Unknown")
