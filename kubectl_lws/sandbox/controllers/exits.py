"""Containers that end on their own, and how long they take to stop: two sandbox annotations the kubelet reads.

* ``sandbox.kubectl-lws.dev/exit`` (JSON on the pod template): a container exits by itself ``after`` seconds
  (scaled by ``--speed``) each time it starts, as a server that crashes on a bad shard or runs out of memory::

      {"after": 15, "exitCode": 1, "reason": "Error",   # reason: Error (default), OOMKilled, Completed, ...
       "message": "...",                                 # what the program wrote to /dev/termination-log
       "groups": [0], "workers": [1], "containers": ["main"]}   # which ones (default: every one)

  Without ``message``, a container whose ``terminationMessagePolicy`` is ``FallbackToLogsOnError`` gets the
  last 80 lines (at most 2048 bytes) of its log as the termination message when it failed, as a kubelet does.
* ``sandbox.kubectl-lws.dev/stop-seconds``: how long the containers take to stop once the pod is deleted
  (SIGTERM to exit), capped by the grace period; default a fifth of a second (kwok: at once). Previous logs
  and ``lastState`` stay readable for that long, as on a real node.
"""
from __future__ import annotations

import json
from typing import Any

EXIT_ANNOTATION = "sandbox.kubectl-lws.dev/exit"
STOP_ANNOTATION = "sandbox.kubectl-lws.dev/stop-seconds"
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048  # the kubelet's limits for FallbackToLogsOnError


def _annotations(pod: dict) -> dict:
    return (pod.get("metadata") or {}).get("annotations") or {}


def exit_plan(pod: dict, container: str) -> dict | None:
    """The exit the annotation plans for ``container`` of ``pod`` (``after``, ``exitCode``, ``reason``,
    ``message``), or None when it does not apply to this pod or container."""
    raw = _annotations(pod).get(EXIT_ANNOTATION)
    if not raw:
        return None
    try:
        plan = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(plan, dict):
        return None
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for key, label in (("groups", "leaderworkerset.sigs.k8s.io/group-index"),
                       ("workers", "leaderworkerset.sigs.k8s.io/worker-index")):
        wanted = plan.get(key)
        if wanted is not None and labels.get(label) not in {str(x) for x in wanted}:
            return None
    containers = plan.get("containers")
    if containers is not None and container not in containers:
        return None
    try:
        after = max(0.0, float(plan.get("after", 15)))
        code = int(plan.get("exitCode", 1))
    except (TypeError, ValueError):
        return None
    return {"after": after, "exitCode": code, "reason": str(plan.get("reason") or ("Completed" if code == 0 else "Error")),
            "message": plan.get("message")}


def stop_seconds(pod: dict, default: float) -> float:
    """How long a deleted pod's containers take to stop (the annotation, capped by the grace period)."""
    raw = _annotations(pod).get(STOP_ANNOTATION)
    if raw is None:
        return default
    try:
        seconds = max(0.0, float(raw))
    except ValueError:
        return default
    grace = (pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
    return min(seconds, float(grace)) if isinstance(grace, (int, float)) else seconds


def fallback_message(pod: dict, container: str, number: int, term: dict) -> str | None:
    """The termination message a kubelet takes from the log (``FallbackToLogsOnError``) for a failed container."""
    spec = next((c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == container), {})
    if spec.get("terminationMessagePolicy") != "FallbackToLogsOnError" or not term.get("exitCode"):
        return None
    from ..runtime.logs import _from_terminated, log_spec

    inst = _from_terminated(pod, container, number, term, log_spec(pod, container))
    end = inst.total(float("inf"))
    lines = [text for _, text in inst.lines_between(max(0, end - FALLBACK_LINES), end)]
    text = "\n".join(lines)
    data = text.encode()
    if len(data) > FALLBACK_BYTES:
        text = data[-FALLBACK_BYTES:].decode("utf-8", "replace")
    return text or None


__all__ = ["EXIT_ANNOTATION", "STOP_ANNOTATION", "exit_plan", "stop_seconds", "fallback_message"]
