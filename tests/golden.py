"""Read the recorded exchanges in tests/data/golden (raw HTTP/1.1 captures; copies of ../shared/golden) for tests."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = Path(os.environ.get("LWS_GOLDEN_DIR", DATA / "golden"))
LWS_FILES = DATA / "lws"  # upstream CRDs and samples (tests/data/README.md)


@dataclass
class HttpExchange:
    method: str
    path: str  # with query
    request_headers: dict[str, str]
    request_body: str
    status: int
    response_headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


def _headers(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        if ":" in line:
            key, _, value = line.partition(":")
            out[key.strip().lower()] = value.strip()
    return out


def read_http(relpath: str) -> HttpExchange:
    """Parse one ``*.http`` capture (see golden README "File formats")."""
    text = (GOLDEN / relpath).read_text()
    req_part = text.split("### REQUEST\n", 1)[1].split("### RESPONSE\n", 1)[0]
    resp_part = text.split("### RESPONSE\n", 1)[1]
    req_head, _, req_body = req_part.partition("\n\n")
    req_lines = req_head.splitlines()
    method, path, _ = req_lines[0].split(" ", 2)
    resp_head, _, body = resp_part.partition("\n\n")
    resp_lines = resp_head.splitlines()
    status = int(resp_lines[0].split(" ", 2)[1])
    return HttpExchange(method, path, _headers(req_lines[1:]), req_body.strip(), status,
                        _headers(resp_lines[1:]), body.rstrip("\n"))


def golden_lws(name: str) -> tuple[dict, list[dict]]:
    """``objects/<name>/``: the LWS (GET) and its pods (PodList items), as the real controller left them."""
    base = GOLDEN / "objects" / name
    lws = json.loads((base / "leaderworkerset.json").read_text())
    return lws, json.loads((base / "pods.json").read_text())["items"]


def golden_nodes() -> list[dict]:
    """``objects/nodes.json`` items: the golden cluster's nodes (labels, Ready conditions)."""
    return json.loads((GOLDEN / "objects" / "nodes.json").read_text())["items"]


def basic_lws_manifest(name: str, namespace: str, *, replicas: int = 3, size: int = 2,
                       restart_policy: str | None = None, gpus: int = 0, sidecar: bool = False) -> dict:
    """The golden ``basic`` LWS (inputs/basic.yaml) resized for a test, in its own namespace."""
    import yaml

    obj = yaml.safe_load((GOLDEN / "inputs" / "basic.yaml").read_text())
    obj["metadata"] = {"name": name, "namespace": namespace}
    obj["spec"]["replicas"] = replicas
    lwt = obj["spec"]["leaderWorkerTemplate"]
    lwt["size"] = size
    if restart_policy:
        lwt["restartPolicy"] = restart_policy
    for tmpl in ("leaderTemplate", "workerTemplate"):
        containers = lwt[tmpl]["spec"]["containers"]
        if gpus:
            for c in containers:
                c.setdefault("resources", {})["limits"] = {"nvidia.com/gpu": str(gpus)}
        if sidecar:
            containers.append({"name": "sidecar", "image": "busybox"})
    return obj
