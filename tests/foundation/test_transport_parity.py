"""Both transports give the same answers (issue #14 keeps the kubernetes client for exec plugins,
auth providers and in-cluster config): every read command, and a server-side dry-run write, run once
through the light transport and once with ``KUBECTL_LWS_TRANSPORT=client`` against the same settled
sandbox, must print the same data. The request log proves the client path really went over the wire.
"""

from __future__ import annotations

import json
import re

import pytest

from cliutil import run_cli, sandbox_http
from conftest import scenario_sandbox

LOGS_ANNOTATION = "sandbox.kubectl-lws.dev/logs"  # the sandbox's log generator config (docs/sandbox.md)

COMMANDS = [
    ["list", "-A", "-o", "json"],
    ["status", "healthy", "-o", "json"],
    ["status", "crashy", "-o", "json"],
    ["logs", "healthy", "--tail", "3", "--no-prefix"],
    ["verify", "env", "healthy", "-o", "json"],
    ["rollout", "history", "canary", "-o", "json"],
    ["scale", "solo", "--replicas", "3", "--dry-run=server", "-y"],
]


MOVING = {"age", "since", "observedAt", "ageSeconds", "seconds"}


def _stable(text: str) -> object:
    """JSON without what moves between two runs a second apart (ages, timings, restart counts in reasons)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text

    def strip(node: object, key: str = "") -> object:
        if isinstance(node, dict):
            return {k: strip(v, k) for k, v in node.items() if k not in MOVING}
        if isinstance(node, str) and key in {"reason", "message"}:
            # "(2 restarts)", "leader 1s old": counts and clocks move, and with them plurals
            return re.sub(r"(# \w+?)s\b", r"\1", re.sub(r"\d+", "#", node))
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return strip(doc)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with scenario_sandbox("demo") as sb:
        for controller in ("kubelet", "lws", "statefulset", "scheduler"):  # a still picture to compare
            sb.fault("pause-controller", controller=controller, on=True)
        # logs are a function of the clock: without periodic lines, and with every start-up line there at
        # once (they are otherwise 0.137 s apart, and the pods have only just started), a tail cannot move
        # between two runs
        pods = sandbox_http(sb, "GET", "/api/v1/namespaces/demo/pods?labelSelector="
                            "leaderworkerset.sigs.k8s.io%2Fname%3Dhealthy")["items"]
        for pod in pods:
            sandbox_http(sb, "PATCH", f"/api/v1/namespaces/demo/pods/{pod['metadata']['name']}",
                         {"metadata": {"annotations": {LOGS_ANNOTATION: json.dumps({"rate": 0, "startup_gap": 0})}}},
                         content_type="application/merge-patch+json")
        yield sb, sb.write_kubeconfig(tmp_path_factory.mktemp("parity") / "kc.yaml", namespace="demo")


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_client_transport_prints_what_the_light_one_prints(demo, args):
    sb, kc = demo
    light = run_cli(args, kubeconfig=kc)
    sb.request_log.clear()
    client = run_cli(args, kubeconfig=kc, env={"KUBECTL_LWS_TRANSPORT": "client"})
    assert sb.request_log.entries, "the client transport sent nothing"
    assert (light.exit_code, client.exit_code) == (0, 0), (light.stderr, client.stderr)
    assert light.stdout.strip(), "nothing to compare"
    assert _stable(client.stdout) == _stable(light.stdout)
