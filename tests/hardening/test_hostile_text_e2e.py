"""Issue 25 class 2: cluster text that attacks the terminal is shown, never obeyed, by every text command.

A hostile cluster (the sandbox, with escape sequences, carriage returns, C1 and bidi controls in node
labels, images, annotations, event reasons and messages, container waiting messages) is driven through
every command that prints text, piped and on a pseudo-terminal with colour on. After our own sequences
(colours, the watch's alternate screen and redraw) are taken out, no control character may remain: the
test fails for any renderer that forgets ``render.safe``, including one written later (add its command
to COMMANDS). JSON keeps the data exact.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from cliutil import run_on_pty, sandbox_http
from conftest import start_sandbox
from golden import basic_lws_manifest

NS = "hostile"
PAYLOAD = "\x1b]0;PWNED\x07\x1b[6n\x1bP+q\x1b\\\rHIDDEN\x9b31m\u202eRTL\u2028LS\x08"
SHOWN = "^[]0;PWNED^G"  # how the payload's start reads once escaped
IMAGE = "reg.example/evil:1" + PAYLOAD
STUCK_IMAGE = "reg.example/stuck:1" + PAYLOAD

# Our own sequences: SGR colours, alternate screen, cursor hide/show, home + clear, erase line.
OURS = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?(1049|25)[hl]|\x1b\[H|\x1b\[2J|\x1b\[K")
# What must never reach the output raw: C0 (but LF, TAB), DEL, C1, bidi controls, line separators.
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _manifest(name: str, image: str, replicas: int) -> dict:
    lws = basic_lws_manifest(name, NS, replicas=replicas, size=2)
    lws["metadata"]["annotations"] = {"example.com/note": "note" + PAYLOAD}
    for template in ("leaderTemplate", "workerTemplate"):
        for c in lws["spec"]["leaderWorkerTemplate"][template]["spec"]["containers"]:
            c["image"] = image
    return lws


def _event(name: str, kind: str, obj: str, reason: str, message: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": NS},
            "involvedObject": {"kind": kind, "name": obj, "namespace": NS,
                               "apiVersion": "leaderworkerset.x-k8s.io/v1" if kind == "LeaderWorkerSet" else "v1"},
            "reason": reason, "message": message, "type": "Warning", "count": 3,
            "firstTimestamp": "2030-01-01T00:00:00Z", "lastTimestamp": "2030-01-01T00:00:00Z",
            "source": {"component": "hostile" + PAYLOAD}}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str]]:
    sb = start_sandbox(speed=50)
    try:
        sb.load_scenario({"namespaces": [NS], "nodes": [
            {"name": f"hostile-{i}", "labels": {"topology.kubernetes.io/zone": "zone" + PAYLOAD}} for i in range(3)]})
        sb.fault("image-pull", image=STUCK_IMAGE)  # its pods wait in ImagePullBackOff, the image in the message
        sb.load_scenario({"objects": [_manifest("evil", IMAGE, 2), _manifest("stuck", STUCK_IMAGE, 1)]})
        sb.wait_settled(60)
        for i, (kind, obj) in enumerate((("LeaderWorkerSet", "stuck"), ("Pod", "stuck-0"), ("LeaderWorkerSet", "evil"))):
            sandbox_http(sb, "POST", f"/api/v1/namespaces/{NS}/events",
                         _event(f"hostile-{i}", kind, obj, "Bad" + PAYLOAD, "message" + PAYLOAD))
        yield sb, sb.write_kubeconfig(tmp_path_factory.mktemp("kc") / "kc.yaml", namespace=NS)
    finally:
        sb.stop()


# (arguments, whether the payload must show up escaped in the output)
COMMANDS = [
    (["list"], False), (["list", "-o", "wide"], False), (["list", "-A"], False),
    (["status", "evil"], True), (["status", "evil", "-o", "wide"], True), (["status", "stuck"], True),
    (["status", "stuck", "--pods"], True), (["status", "stuck", "-w", "--timeout", "2s"], True),
    (["events", "stuck"], True), (["events", "evil"], True),
    (["rollout", "history", "evil"], True), (["rollout", "history", "evil", "--revision", "1"], True),
    (["rollout", "status", "stuck", "--watch=false"], False),
    (["rollout", "pause", "evil", "--dry-run"], False), (["rollout", "canary", "evil", "--groups", "1", "--dry-run"], False),
    (["restart", "evil", "-g", "0", "--dry-run"], False), (["restart", "stuck", "--dry-run"], False),
    (["scale", "evil", "--replicas", "3", "--dry-run"], False),
    (["logs", "evil", "--tail", "1"], False), (["logs", "stuck", "--tail", "1"], False),
    (["verify", "env", "evil"], False), (["verify", "nccl", "evil", "--static"], False),
    (["verify", "runtime", "evil"], False),
    (["doctor"], False),
]


def _leftovers(text: str) -> list[str]:
    """Raw controls left once our own sequences and the terminal's CRLF are taken out."""
    text = OURS.sub("", text.replace("\r\n", "\n"))
    return sorted({repr(m.group(0)) for m in RAW.finditer(text)})


def _run_piped(args: list[str], kc: str) -> tuple[int, str]:
    env = {**os.environ, "KUBECONFIG": kc, "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "kubectl_lws", *args], capture_output=True, text=True, env=env,
                          timeout=60)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("args,shows", COMMANDS, ids=[" ".join(a) for a, _ in COMMANDS])
def test_no_raw_control_of_cluster_origin_reaches_the_terminal(hostile, args: list[str], shows: bool) -> None:
    _, kc = hostile
    env = {**os.environ, "LINES": "40", "COLUMNS": "200", "TERM": "xterm", "KUBECONFIG": kc}
    env.pop("NO_COLOR", None)
    code_tty, screen = run_on_pty([*args, "--color", "always"], env=env)
    code_pipe, piped = _run_piped(args, kc)
    assert code_tty not in (130, 143) and "Traceback" not in screen + piped, screen + piped
    assert _leftovers(screen) == [], screen
    assert _leftovers(piped) == [], piped
    if shows:
        assert SHOWN in screen and SHOWN in piped, (screen, piped)


def test_json_keeps_the_data_exact(hostile) -> None:
    _, kc = hostile
    env = {**os.environ, "KUBECONFIG": kc}
    out = subprocess.run([sys.executable, "-m", "kubectl_lws", "events", "stuck", "-o", "json"],
                         capture_output=True, text=True, env=env, timeout=60).stdout
    messages = [item["message"] for item in json.loads(out)["items"]]
    assert "message" + PAYLOAD in messages


def test_report_text_files_are_safe(hostile, tmp_path: Path) -> None:
    _, kc = hostile
    target = tmp_path / "r.zip"
    code, out = _run_piped(["report", "stuck", "--output", str(target)], kc)
    assert code == 0, out
    with zipfile.ZipFile(target) as z:
        texts = {n: z.read(n).decode() for n in z.namelist() if n.endswith(".txt")}
    assert {"status.txt", "events.txt"} <= {n.rsplit("/", 1)[-1] for n in texts}
    for name, text in texts.items():
        assert _leftovers(text) == [], name
    assert any(SHOWN in text for text in texts.values())


def test_a_long_message_stays_one_bounded_line(hostile) -> None:
    """The State: header once printed a whole 100 KB event message on one line."""
    sb, kc = hostile
    sandbox_http(sb, "POST", f"/api/v1/namespaces/{NS}/events",
                 _event("hostile-long", "Pod", "stuck-0-1", "FailedMount", "mount failed: " + "x" * 100_000))
    for args in (["status", "stuck"], ["status", "stuck", "--pods"], ["status", "stuck", "-o", "wide"],
                 ["events", "stuck"]):
        code, out = _run_piped(args, kc)
        assert code == 0, out
        assert "mount failed: xxx" in out, out
        assert max(len(line) for line in out.splitlines()) < 2_000, (args, [len(x) for x in out.splitlines()])
