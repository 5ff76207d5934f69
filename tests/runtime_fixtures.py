"""Pods as LWS builds them from a template (labels + injected LWS_* env), for the runtime-check tests."""
from __future__ import annotations

import copy
import hashlib

import yaml

from golden import LWS_FILES

from kubectl_lws.model import keys
from kubectl_lws.model.groups import group_pods, lws_view

SAMPLES = LWS_FILES / "docs" / "examples"


def sample(path: str) -> tuple[dict, list[dict]]:
    """(the LWS, the other objects: Services) of a sample manifest under lws/docs/examples."""
    docs = [d for d in yaml.safe_load_all((SAMPLES / path).read_text()) if d]
    lws = next(d for d in docs if d["kind"] == "LeaderWorkerSet")
    lws["metadata"].setdefault("namespace", "default")
    for d in docs:
        d.setdefault("metadata", {}).setdefault("namespace", "default")
    return lws, [d for d in docs if d["kind"] == "Service"]


def build_pods(lws: dict, *, ips: bool = True) -> list[dict]:
    """Every pod of every group, with LWS's labels and env (reference §5, §6)."""
    name, ns = lws["metadata"]["name"], lws["metadata"].get("namespace", "default")
    lwt = lws["spec"]["leaderWorkerTemplate"]
    size = int(lwt.get("size", 1))
    pods = []
    for g in range(int(lws["spec"].get("replicas", 1))):
        for w in range(size):
            tpl = copy.deepcopy(lwt.get("leaderTemplate") if w == 0 and lwt.get("leaderTemplate")
                                else lwt["workerTemplate"])
            pname = f"{name}-{g}" if w == 0 else f"{name}-{g}-{w}"
            meta = tpl.get("metadata") or {}
            labels = {**(meta.get("labels") or {}), keys.NAME_LABEL: name, keys.GROUP_INDEX_LABEL: str(g),
                      keys.WORKER_INDEX_LABEL: str(w),
                      keys.GROUP_KEY_LABEL: hashlib.sha1(f"{ns}/{name}-{g}".encode()).hexdigest()}
            spec = tpl["spec"]
            spec["subdomain"] = name
            for c in spec.get("containers") or []:
                c["env"] = [{"name": keys.ENV_LEADER_ADDRESS, "value": f"{name}-{g}.{name}.{ns}"},
                            {"name": keys.ENV_GROUP_SIZE, "value": str(size)},
                            {"name": keys.ENV_WORKER_INDEX, "value": str(w)}] + list(c.get("env") or [])
            ip = f"10.244.{g}.{w + 2}"
            pods.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": pname, "namespace": ns, "labels": labels,
                                      "annotations": {keys.SIZE_ANNOTATION: str(size)}},
                         "spec": spec,
                         "status": {"phase": "Running", **({"podIP": ip, "podIPs": [{"ip": ip}]} if ips else {})}})
    return pods


def groups(lws: dict, pods: list[dict] | None = None):
    view = lws_view(lws)
    return view, group_pods(pods if pods is not None else build_pods(lws), view.replicas)


def set_command(lws: dict, role: str, command: list[str], args: list[str] | None = None) -> None:
    tpl = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate" if role == "leader" else "workerTemplate"]
    c = tpl["spec"]["containers"][0]
    c["command"] = command
    if args is not None:
        c["args"] = args
