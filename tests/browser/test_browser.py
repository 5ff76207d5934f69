"""What is drawn for a browser, in a real headless Chromium: the HTML export, the report's index.html and
the dashboard against the demo sandbox (every group and node found, a group change seen after a pod
deletion, hostile text shown as text). Screenshots are kept under pytest's tmp dir as artefacts."""

from __future__ import annotations

import io
import json
import signal
import time
import zipfile
from pathlib import Path

import pytest
from browserutil import Chromium, artefact_dir, chromium_binary
from cliutil import run_cli, sandbox_http
from conftest import scenario_sandbox
from maputil import lws, node, pod

from kubectl_lws.model import placemap as M
from kubectl_lws.render.html import map_page

pytestmark = pytest.mark.skipif(chromium_binary() is None,
                                reason="no Chromium on this machine (Debian: apt-get install chromium; "
                                       ".ci/run installs it)")

DEMO_NODES = {f"gpu-{r}{i}" for r in "abcd" for i in (1, 2)}
HOSTILE = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'


@pytest.fixture(scope="module")
def demo():
    with scenario_sandbox("demo", speed=10) as sb:
        yield sb


@pytest.fixture
def browser(tmp_path: Path):
    b = Chromium(tmp_path / "profile")
    try:
        yield b
    finally:
        b.close()


def test_html_export_shows_every_node_and_group(demo, browser: Chromium, tmp_path: Path) -> None:
    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")
    res = run_cli(["map", "-A", "-o", "html"], kubeconfig=kc)
    assert res.exit_code == 0, res.stderr
    page = tmp_path / "map.html"
    page.write_text(res.stdout)
    browser.open(page.as_uri())
    nodes = browser.eval("[...document.querySelectorAll('#node-table [data-node]')].map(e => e.textContent)")
    assert set(nodes) == DEMO_NODES
    assert browser.eval("document.querySelectorAll('svg g.node').length") == len(DEMO_NODES)
    groups = browser.eval("[...document.querySelectorAll('#group-table [data-group]')]"
                          ".map(e => e.getAttribute('data-group'))")
    assert len(groups) == 29 and "demo/healthy/2" in groups and "team-b/stuck/1" in groups
    assert "pinned group 2" in browser.eval("document.querySelector('#unplaced').innerText")
    assert browser.screenshot(artefact_dir(tmp_path) / "map-export.png").stat().st_size > 10_000


def test_hostile_cluster_text_stays_text_in_the_page(browser: Chromium, tmp_path: Path) -> None:
    nodes = [node("n1", rack=HOSTILE), node("n2", rack=HOSTILE)]
    p = pod("a", 0, 0, None)
    p["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                  "message": f"0/2 nodes are available: {HOSTILE}"}]
    m = M.build_map([lws("a", 2, 1)], [p, pod("a", 1, 0, "n1", 2)], nodes, levels=["rack"], levels_from="flag")
    page = tmp_path / "hostile.html"
    page.write_text(map_page(m, title=HOSTILE))
    browser.open(page.as_uri())
    assert browser.eval("document.querySelectorAll('img, script').length") == 0
    text = browser.eval("document.body.innerText")
    assert HOSTILE in text and f"rack {HOSTILE}" in browser.eval("document.querySelector('svg').textContent")
    assert browser.dialogs() == []
    browser.screenshot(artefact_dir(tmp_path) / "hostile.png")


def test_report_index_opens_offline(demo, browser: Chromium, tmp_path: Path) -> None:
    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")
    bundle = tmp_path / "r.zip"
    assert run_cli(["report", "healthy", "--output", str(bundle), "--logs", "none"], kubeconfig=kc).exit_code == 0
    out = tmp_path / "unpacked"
    zipfile.ZipFile(io.BytesIO(bundle.read_bytes())).extractall(out)
    browser.open((out / "r" / "index.html").as_uri())
    assert browser.eval("document.querySelectorAll('#group-status [data-group]').length") == 3
    assert browser.eval("[...document.querySelectorAll('#files a')].map(a => a.textContent)")[:3] == [
        "status.txt", "events.txt", "map.svg"]
    browser.screenshot(artefact_dir(tmp_path) / "report-index.png")


def test_dashboard_live_in_the_browser(demo, browser: Chromium, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    kc = demo.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")
    proc = subprocess.Popen([sys.executable, "-m", "kubectl_lws", "dashboard", "-A"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "KUBECONFIG": kc})
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        browser.open(url)
        names = browser.wait_for("[...document.querySelectorAll('#lws-table [data-lws]')]"
                                 ".map(e => e.getAttribute('data-lws'))")
        assert {n for n in names if not n.startswith("pd/")} == {
            "demo/healthy", "demo/crashy", "demo/canary", "demo/solo", "default/pinned", "team-b/stuck"}
        assert len(names) == 6 + 12  # and the 12 LWS of pd's DisaggregatedSets
        assert browser.eval("[...document.querySelectorAll('#ds-table [data-ds]')].map(e => e.getAttribute('data-ds'))"
                            ) == ["pd/pd-rolling", "pd/pd-stalled"]
        browser.wait_for("document.getElementById('live').textContent.startsWith('live')")
        # follow the page's own link (it carries the token) to one LWS
        href = browser.eval("document.querySelector('[data-lws=\"demo/healthy\"] a').getAttribute('href')")
        browser.open(url.split("/?", 1)[0] + href)
        browser.wait_for("document.getElementById('live').textContent.startsWith('live')")
        uid = "document.querySelector('[data-group=\"demo/healthy/1\"]').getAttribute('data-leader-uid')"
        before = browser.eval(uid)
        assert before and browser.eval("document.querySelectorAll('svg g.node').length") == len(DEMO_NODES)
        sandbox_http(demo, "POST", "/api/v1/namespaces/demo/events", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "hostile.1", "namespace": "demo"},
            "involvedObject": {"kind": "Pod", "name": "healthy-0", "namespace": "demo"}, "reason": "Hostile",
            "message": HOSTILE, "type": "Warning", "count": 1, "source": {"component": "test"},
            "firstTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        sandbox_http(demo, "DELETE", "/api/v1/namespaces/demo/pods/healthy-1")
        started = time.monotonic()
        browser.wait_for(f"{uid} !== {json.dumps(before)}", timeout=10)
        took = time.monotonic() - started
        assert took < 5, took
        browser.wait_for("document.querySelector('#events-table') && "
                         f"document.querySelector('#events-table').innerText.includes({json.dumps(HOSTILE)})")
        assert browser.eval("document.querySelectorAll('#main img, #main script').length") == 0
        assert browser.dialogs() == []
        browser.screenshot(artefact_dir(tmp_path) / "dashboard-lws.png")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130
