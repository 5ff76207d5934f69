"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a practical strategic merge patch.

Strategic merge covers what kubectl and our plugin send to built-in kinds: maps merge, ``null`` deletes,
lists of objects merge by their patch merge key (containers by name, ...), ``$patch: delete|replace``
directives, and ``$setElementOrder``/``$retainKeys`` hints are accepted and ignored.
"""
from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError

_INVALID = "the server rejected our request due to an error in our request"

# List field name -> merge key, for the built-in kinds the sandbox serves.
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "ports": "containerPort",
    "conditions": "type", "imagePullSecrets": "name", "ownerReferences": "uid", "hostAliases": "ip",
    "containerStatuses": "name", "initContainerStatuses": "name", "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name", "readinessGates": "conditionType",
}


def invalid_patch(message: str = _INVALID) -> ApiError:
    return ApiError(422, "Invalid", message, {})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            result[k] = merge_patch(result.get(k), v)
        else:
            result[k] = copy.deepcopy(v)
    return result


# ------------------------------------------------------------------------------------------ JSON patch

def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise invalid_patch()
    return [_unescape(t) for t in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            raise invalid_patch()
    return cur, tokens[-1]


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise invalid_patch()


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise invalid_patch()
    else:
        raise invalid_patch()
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent, last = _parent(doc, tokens)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise invalid_patch()


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902. Any failing op (including ``test``) is kube's 422 with empty details."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise invalid_patch()
        kind, path = op["op"], _split(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            if not path:
                doc = copy.deepcopy(op.get("value"))
                continue
            _get(doc, path)
            parent, last = _parent(doc, path)
            if isinstance(parent, list):
                parent[int(last)] = copy.deepcopy(op.get("value"))
            else:
                parent[last] = copy.deepcopy(op.get("value"))
        elif kind == "move":
            frm = _split(op.get("from", ""))
            doc = _add(doc, path, _remove(doc, frm))
        elif kind == "copy":
            frm = _split(op.get("from", ""))
            doc = _add(doc, path, copy.deepcopy(_get(doc, frm)))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise invalid_patch()
        else:
            raise invalid_patch()
    return doc


# ------------------------------------------------------------------------------------ strategic merge

def _is_directive(key: str) -> bool:
    return key.startswith("$")


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch over plain dicts, using :data:`MERGE_KEYS` for lists of objects."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not _is_directive(k)}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if _is_directive(k):
            if k.startswith("$deleteFromPrimitiveList/"):
                name = k.split("/", 1)[1]
                if isinstance(result.get(name), list):
                    result[name] = [x for x in result[name] if x not in (v or [])]
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge_patch(result.get(k), v, k)
            if merged is None:
                result.pop(k, None)
            else:
                result[k] = merged
        elif isinstance(v, list) and k in MERGE_KEYS and isinstance(result.get(k), list):
            result[k] = _merge_list(result[k], v, MERGE_KEYS[k])
        else:
            result[k] = copy.deepcopy(v)
    return result


def _merge_list(current: list, patch: list, key: str) -> list:
    out = [copy.deepcopy(x) for x in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if not _is_directive(k)})
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


CR_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
UNSUPPORTED_CR_MESSAGE = ("the body of the request was in an unknown format - accepted media types include: "
                          + ", ".join(CR_PATCH_TYPES))


def apply_patch(target: dict, patch: Any, content_type: str, *, custom: bool) -> dict:
    """Dispatch on the PATCH Content-Type; 415 as kube for strategic merge on a custom resource."""
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("application/merge-patch+json", "application/strategic-merge-patch+json") \
            and not isinstance(patch, dict):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal array into Go value of type "
                       "map[string]interface {}" if isinstance(patch, list) else "invalid patch body")
    if ct == "application/merge-patch+json":
        return merge_patch(target, patch)
    if ct == "application/json-patch+json":
        return json_patch(target, patch)
    if ct == "application/strategic-merge-patch+json" and not custom:
        return strategic_merge_patch(target, patch)
    if custom:
        raise ApiError(415, "UnsupportedMediaType", UNSUPPORTED_CR_MESSAGE)
    raise ApiError(415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types include: "
                   "application/json-patch+json, application/merge-patch+json, "
                   "application/strategic-merge-patch+json")
