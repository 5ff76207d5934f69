"""The krew manifest, and the archive installed the way krew lays it out, found by real kubectl."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from kubectl_lws import __version__

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def test_manifest_is_a_valid_krew_plugin() -> None:
    doc = yaml.safe_load((ROOT / "krew" / "lws.yaml").read_text())
    assert doc["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert doc["kind"] == "Plugin" and doc["metadata"]["name"] == "lws"
    spec = doc["spec"]
    assert spec["version"] == f"v{__version__}"
    for key in ("homepage", "shortDescription", "description", "caveats"):
        assert spec[key].strip()
    assert "Python" in spec["caveats"] or "python3" in spec["caveats"]
    seen = set()
    for entry in spec["platforms"]:
        labels = entry["selector"]["matchLabels"]
        seen.add((labels["os"], labels["arch"]))
        assert entry["bin"] == "kubectl-lws"
        assert {f["from"] for f in entry["files"]} == {"kubectl-lws", "LICENSE"}
        assert len(entry["sha256"]) == 64 and int(entry["sha256"], 16) >= 0
        assert entry["uri"].endswith(f"v{__version__}_{labels['os']}_{labels['arch']}.tar.gz")
    assert seen == {("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64")}


@pytest.fixture(scope="module")
def krew_install(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build the archive and install it into a fresh KREW_ROOT exactly as krew would."""
    work = tmp_path_factory.mktemp("krew")
    manifest = work / "lws.yaml"
    shutil.copy(ROOT / "krew" / "lws.yaml", manifest)
    out = subprocess.run([sys.executable, str(ROOT / "krew" / "build.py"), "--out", str(work / "dist"),
                          "--manifest", str(manifest)], capture_output=True, text=True, check=True).stdout
    archive = Path(out.split()[0])
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert digest in manifest.read_text()  # build wrote this platform's sha256
    root = work / "krew-root"
    store = root / "store" / "lws" / f"v{__version__}"
    store.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["LICENSE", "kubectl-lws"]
        tar.extractall(store)
    (root / "bin").mkdir()
    os.symlink(store / "kubectl-lws", root / "bin" / "kubectl-lws")
    (root / "receipts").mkdir()
    shutil.copy(manifest, root / "receipts" / "lws.yaml")
    env = {"PATH": f"{root / 'bin'}:/usr/bin:/bin", "HOME": str(work), "KREW_ROOT": str(root),
           "KUBECTL_LWS_CACHE": str(work / "cache")}
    return env


def test_kubectl_finds_and_runs_the_krew_installed_plugin(krew_install: dict[str, str]) -> None:
    listed = subprocess.run([KUBECTL, "plugin", "list"], env=krew_install, capture_output=True, text=True)
    assert "kubectl-lws" in listed.stdout
    result = subprocess.run([KUBECTL, "lws", "version"], env=krew_install, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"kubectl-lws: {__version__}")


def test_krew_install_gets_plugin_completion(krew_install: dict[str, str]) -> None:
    result = subprocess.run([KUBECTL, "lws", "completion", "install"], env=krew_install, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    shim = Path(krew_install["KREW_ROOT"]) / "bin" / "kubectl_complete-lws"
    out = subprocess.run([str(shim), "version", "-o", "j"], env=krew_install, capture_output=True, text=True)
    assert out.stdout == "json\n:4\n"


def test_krew_installed_plugin_talks_to_the_sandbox(krew_install: dict[str, str], tmp_path: Path) -> None:
    from conftest import scenario_sandbox

    with scenario_sandbox("demo") as sb:
        kubeconfig = sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")
        env = {**krew_install, "KUBECONFIG": kubeconfig}
        result = subprocess.run([KUBECTL, "lws", "status", "healthy"], env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert "healthy" in result.stdout and "Healthy" in result.stdout
