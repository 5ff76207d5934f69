"""``kubectl lws dashboard`` end to end over HTTP: its guards (token, GET only, Origin, Host), a change
pushed within 2 s of a pod deletion, and Ctrl-C. The browser's view of it: tests/browser."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
from cliutil import sandbox_http
from conftest import scenario_sandbox

pytest.importorskip("aiohttp")


@pytest.fixture(scope="module")
def demo():
    with scenario_sandbox("demo", speed=10) as sb:  # slow enough to see a group being re-created
        yield sb


class Served:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.token = parts.query.split("token=", 1)[1]

    def request(self, method: str, path: str, *, token: bool = True, headers: dict | None = None,
                read: bool = True) -> tuple[int, str, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        sep = "&" if "?" in path else "?"
        conn.request(method, path + (f"{sep}token={self.token}" if token else ""), headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode() if read else "", resp


def start_dashboard(kc: str, *args: str) -> Served:
    env = {**os.environ, "KUBECONFIG": kc}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "dashboard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), proc.stderr.read() if proc.stderr else url
    return Served(proc, url)


@pytest.fixture(scope="module")
def dash(demo, tmp_path_factory) -> Iterator[Served]:
    kc = demo.write_kubeconfig(tmp_path_factory.mktemp("dash") / "kc.yaml", namespace="demo")
    served = start_dashboard(kc, "-A")
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


def sse_events(resp: http.client.HTTPResponse, deadline: float) -> Iterator[dict]:
    """Parsed ``update`` events of a stream until ``deadline``."""
    data: list[str] = []
    while time.monotonic() < deadline:
        line = resp.fp.readline().decode()
        if not line:
            return
        if line.startswith("data: "):
            data.append(line[6:])
        elif line.strip() == "" and data:
            yield json.loads("".join(data))
            data = []


def test_every_request_needs_the_token_and_only_get_is_served(dash: Served) -> None:
    assert dash.request("GET", "/")[0] == 200
    status, body, _ = dash.request("GET", "/", token=False)
    assert status == 403 and "token" in body
    conn = http.client.HTTPConnection(dash.host, dash.port, timeout=10)
    conn.request("GET", "/map?token=wrong" + dash.token[5:])
    assert conn.getresponse().status == 403
    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        assert dash.request(method, "/")[0] == 403, method
    assert dash.request("GET", "/stream?view=overview", headers={"Origin": "http://evil.example"})[0] == 403
    assert dash.request("GET", "/stream?view=overview", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert dash.request("GET", "/", headers={"Host": f"attacker.example:{dash.port}"})[0] == 403
    status, _, resp = dash.request("GET", "/lws/demo/healthy")
    assert status == 200 and "script-src 'nonce-" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"
    assert dash.request("GET", "/lws/demo/Not_A_Name")[0] == 404


def test_a_pod_deletion_reaches_the_stream_within_2s(demo, dash: Served) -> None:
    origin = {"Origin": f"http://127.0.0.1:{dash.port}"}
    status, _, resp = dash.request("GET", "/stream?view=lws/demo/healthy", headers=origin, read=False)
    assert status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(resp, time.monotonic() + 30)
    first = next(events)
    before = leader_uid(first["html"], 1)
    assert before and 'class="state-Ready"' in first["html"]
    sandbox_http(demo, "DELETE", "/api/v1/namespaces/demo/pods/healthy-1")  # the group is re-created
    deleted = time.monotonic()
    took = None
    for update in events:
        if leader_uid(update["html"], 1) != before:
            took = time.monotonic() - deleted
            break
    resp.close()
    assert took is not None and took <= 2.0, f"the new group reached the stream after {took}s"


def leader_uid(html: str, index: int) -> str:
    """The uid of the leader a group's row shows (a re-created group has a new one)."""
    m = re.search(rf'data-group="demo/healthy/{index}" data-leader-uid="([^"]*)"', html)
    assert m, html[:500]
    return m.group(1)


def test_ctrl_c_stops_it_cleanly(demo, tmp_path: Path) -> None:
    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")
    served = start_dashboard(kc, "healthy", "--port", "0")
    assert "/lws/demo/healthy?token=" in served.url
    assert served.request("GET", "/lws/demo/healthy")[0] == 200
    served.proc.send_signal(signal.SIGINT)
    code = served.proc.wait(10)
    err = served.proc.stderr.read() if served.proc.stderr else ""
    assert code == 130 and "dashboard stopped" in err and "Traceback" not in err, err
    with pytest.raises(OSError):
        served.request("GET", "/")


def test_usage_errors_and_the_warning_off_loopback(demo, tmp_path: Path) -> None:
    from cliutil import run_cli

    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")
    res = run_cli(["dashboard", "--address", "not an ip"], kubeconfig=kc)
    assert res.exit_code == 2 and "invalid --address" in res.stderr
    res = run_cli(["dashboard", "x", "-A"], kubeconfig=kc)
    assert res.exit_code == 2
    res = run_cli(["dashboard", "nope"], kubeconfig=kc)
    assert res.exit_code == 1 and "not found" in res.stderr
    served = start_dashboard(kc, "--address", "0.0.0.0")
    served.proc.send_signal(signal.SIGINT)
    served.proc.wait(10)
    err = served.proc.stderr.read() if served.proc.stderr else ""
    assert "warning: listening on 0.0.0.0" in err


def test_the_dashboard_gives_the_verdict_status_gives(tmp_path: Path) -> None:
    """A group held by a gang scheduler or a queue reads as in status: the same state and cause (the layers)."""
    from cliutil import run_cli

    with scenario_sandbox("queues") as sb:
        kc = sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="gangs")
        status = json.loads(run_cli(["status", "gang", "-o", "json"], kubeconfig=kc).stdout)
        served = start_dashboard(kc, "gang")
        try:
            code, page, _ = served.request("GET", "/lws/gangs/gang")
        finally:
            served.proc.send_signal(signal.SIGINT)
            served.proc.wait(10)
    assert code == 200
    group = status["groups"][0]
    assert group["reason"].startswith("Volcano: ")
    row = re.search(r'data-group="gangs/gang/0".*?</tr>', page, re.S)
    assert row and f'class="state-{group["state"]}"' in row.group(0)
    assert re.sub(r" \(for \d+s\)$", "", group["reason"]) in row.group(0).replace("&#x27;", "'")


def test_disaggregated_sets_in_the_overview_and_on_their_own_page(demo, dash: Served, tmp_path: Path) -> None:
    """The namespace's sets beside its LWS, each in the state `list` gives it; ds/NAME opens the set's page
    (roles, child LWS with links, events by role/slice/group, the map of its children)."""
    from cliutil import run_cli

    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="pd")
    listed = {i["name"]: i["state"] for i in json.loads(run_cli(["list", "-o", "json"], kubeconfig=kc).stdout)["items"]
              if i["kind"] == "DisaggregatedSetSummary"}
    assert set(listed) == {"pd-rolling", "pd-stalled"}
    code, page, _ = dash.request("GET", "/")
    sets = re.search(r'<section id="sets">.*?</section>', page, re.S)
    assert code == 200 and sets
    for name, state in listed.items():
        row = re.search(rf'data-ds="pd/{name}".*?</tr>', sets.group(0), re.S)
        assert row and f'class="state-{state}"' in row.group(0) and f"/ds/pd/{name}?token=" in row.group(0)
    code, page, _ = dash.request("GET", "/ds/pd/pd-stalled")
    assert code == 200 and 'data-ds="pd/pd-stalled"' in page
    children = set(re.findall(r'data-lws="pd/(pd-stalled-[^"]+)"', page))
    assert len(children) == 4 and all(f"/lws/pd/{c}?token=" in page for c in children)
    assert "decode/s0/g0" in page  # its events, by role/slice/group
    assert page.count('<g class="node" data-node="gpu-') == 8  # the map of its children, on the demo's nodes
    assert "does not exist" in dash.request("GET", "/ds/pd/nope")[1]
    served = start_dashboard(kc, "ds/pd-rolling")
    try:
        assert "/ds/pd/pd-rolling?token=" in served.url
    finally:
        served.proc.send_signal(signal.SIGINT)
        served.proc.wait(10)
    res = run_cli(["dashboard", "ds/nope"], kubeconfig=kc)
    assert res.exit_code == 1 and 'disaggregatedset "nope" not found' in res.stderr


def test_an_external_role_shows_the_desired_count_of_its_role_scaler(demo, dash: Served, tmp_path: Path) -> None:
    """The dashboard watches the role scalers as `list` reads them: an External role's desired count is the
    scaler's, never `?`, and a scale through the scaler reaches the page."""
    import yaml
    from cliutil import run_cli, wait_for
    from golden import GOLDEN

    demo.ensure_namespace("dext")
    body = yaml.safe_load((GOLDEN / "ds" / "inputs" / "ds-ext.yaml").read_text())
    body["metadata"]["namespace"] = "dext"
    sandbox_http(demo, "POST", "/apis/disaggregatedset.x-k8s.io/v1/namespaces/dext/disaggregatedsets", body)
    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="dext")

    def roles_on_the_page() -> str | None:
        row = re.search(r'data-ds="dext/ds-ext".*?</tr>', dash.request("GET", "/")[1], re.S)
        return row.group(0) if row else None

    def listed() -> dict:
        items = json.loads(run_cli(["list", "-o", "json"], kubeconfig=kc).stdout)["items"]
        return next(i for i in items if i["kind"] == "DisaggregatedSetSummary")

    wait_for(lambda: listed()["state"] == "Healthy", timeout=90)
    row = wait_for(lambda: (r := roles_on_the_page()) and "decode 1/1" in r and r, timeout=10)
    assert "?" not in re.sub(r"<[^>]+>", "", row)
    res = run_cli(["scale", "ds/ds-ext", "--role", "decode", "--replicas", "2", "-y"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    wait_for(lambda: "decode 1/2" in (roles_on_the_page() or "") or "decode 2/2" in (roles_on_the_page() or ""),
             timeout=10)
