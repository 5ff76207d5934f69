"""What a kubelet reads from ConfigMaps and Secrets before it starts a pod's containers.

Env values (``valueFrom.configMapKeyRef|secretKeyRef``), ``envFrom`` and ``configMap``/``secret``
volumes (also inside ``projected``) must exist unless marked ``optional``; otherwise the kubelet leaves
the container waiting in ``CreateContainerConfigError`` (env) or the pod in ``ContainerCreating`` with a
``FailedMount`` event (volumes), and retries when the object appears. The same lookups give the values a
process sees in the container (``exec printenv``). Messages are kubelet's wording.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Callable

Lookup = Callable[[str, str, str], "dict | None"]  # (resource: "secrets"|"configmaps", namespace, name)

_KINDS = {"secrets": ("secret", "Secret"), "configmaps": ("configmap", "ConfigMap")}


@dataclass
class ConfigProblems:
    """Why the kubelet cannot start a pod yet: per container (env) and per volume."""
    containers: dict[str, str] = field(default_factory=dict)   # container -> message
    volumes: list[tuple[str, str]] = field(default_factory=list)  # (volume, message)

    def __bool__(self) -> bool:
        return bool(self.containers or self.volumes)


def _data(resource: str, obj: dict) -> dict[str, str]:
    """The object's entries as the container sees them (Secret values decoded, stringData merged)."""
    if resource == "secrets":
        out = {}
        for k, v in (obj.get("data") or {}).items():
            try:
                out[k] = base64.b64decode(v).decode("utf-8", "replace")
            except (ValueError, TypeError):
                out[k] = ""
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
        return out
    return {k: str(v) for k, v in (obj.get("data") or {}).items()}


def key_value(resource: str, ref: dict, namespace: str, lookup: Lookup) -> tuple[str | None, str | None]:
    """(value, None), or (None, kubelet's message) when the object or key is missing and not optional;
    (None, None) when it is missing but optional."""
    short, kind = _KINDS[resource]
    name, key = ref.get("name") or "", ref.get("key") or ""
    obj = lookup(resource, namespace, name)
    if obj is None:
        return None, (None if ref.get("optional") else f'{short} "{name}" not found')
    data = _data(resource, obj)
    if key not in data:
        return None, (None if ref.get("optional") else f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key], None


def env_from(container: dict, namespace: str, lookup: Lookup) -> tuple[dict[str, str], str | None]:
    """The variables ``envFrom`` brings (prefix applied, in order), and the first problem."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for resource, ref_key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            ref = source.get(ref_key)
            if not isinstance(ref, dict):
                continue
            obj = lookup(resource, namespace, ref.get("name") or "")
            if obj is None:
                if not ref.get("optional"):
                    return env, f'{_KINDS[resource][0]} "{ref.get("name") or ""}" not found'
                continue
            for k, v in _data(resource, obj).items():
                env[(source.get("prefix") or "") + k] = v
    return env, None


def _volume_refs(volume: dict) -> list[tuple[str, dict]]:
    refs = []
    if isinstance(volume.get("configMap"), dict):
        refs.append(("configmaps", volume["configMap"]))
    if isinstance(volume.get("secret"), dict):
        sec = volume["secret"]
        refs.append(("secrets", {"name": sec.get("secretName"), "optional": sec.get("optional")}))
    for source in (volume.get("projected") or {}).get("sources") or []:
        if isinstance(source.get("configMap"), dict):
            refs.append(("configmaps", source["configMap"]))
        if isinstance(source.get("secret"), dict):
            refs.append(("secrets", source["secret"]))
    return refs


def problems(pod: dict, lookup: Lookup) -> ConfigProblems:
    """Everything the kubelet would refuse to start ``pod`` for, now."""
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    spec = pod.get("spec") or {}
    out = ConfigProblems()
    for volume in spec.get("volumes") or []:
        for resource, ref in _volume_refs(volume):
            if lookup(resource, ns, ref.get("name") or "") is None and not ref.get("optional"):
                out.volumes.append((volume.get("name", ""), f'{_KINDS[resource][0]} "{ref.get("name") or ""}" '
                                                            "not found"))
    for container in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        _, problem = env_from(container, ns, lookup)
        for item in container.get("env") or []:
            if problem:
                break
            vf = item.get("valueFrom") or {}
            for resource, ref_key in (("configmaps", "configMapKeyRef"), ("secrets", "secretKeyRef")):
                if isinstance(vf.get(ref_key), dict):
                    _, problem = key_value(resource, vf[ref_key], ns, lookup)
        if problem:
            out.containers[container.get("name", "")] = problem
    return out
