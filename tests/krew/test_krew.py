"""The krew archive: reproducible, its manifest entry true, and installed the way krew lays it out it
runs through real kubectl on a PATH without any Python (version, status against the sandbox,
plugin completion, the sandbox itself)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
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
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _build_module():
    spec = importlib.util.spec_from_file_location("krew_build_py", ROOT / "krew" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_py = _build_module()


def krew_rule_violations(path: Path) -> list[str]:
    """krew's own manifest validation (internal/index/validation) plus krew-index's review rules."""
    doc = yaml.safe_load(path.read_text())
    bad = []
    if doc.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2":
        bad.append("apiVersion")
    if doc.get("kind") != "Plugin":
        bad.append("kind")
    name = doc.get("metadata", {}).get("name", "")
    if not re.fullmatch(r"[\w-]+", name) or name != path.stem:
        bad.append(f"metadata.name {name!r} (must match [\\w-]+ and the file name)")
    spec = doc.get("spec", {})
    if not SEMVER.match(str(spec.get("version", ""))):
        bad.append(f"spec.version {spec.get('version')!r} is not semver with a leading v")
    short = spec.get("shortDescription") or ""
    if not short or "\n" in short or "\r" in short or len(short) > 50:
        bad.append(f"shortDescription {short!r} (one line, 1-50 characters)")
    for key in ("homepage", "description"):
        if not str(spec.get(key) or "").strip():
            bad.append(f"{key} missing")
    platforms = spec.get("platforms") or []
    if not platforms:
        bad.append("no platforms")
    seen = set()
    for p in platforms:
        labels = (p.get("selector") or {}).get("matchLabels") or {}
        where = f"{labels.get('os')}/{labels.get('arch')}"
        if not labels or set(labels) - {"os", "arch"}:
            bad.append(f"{where}: selector must be non-empty matchLabels of os/arch only")
        if where in seen:
            bad.append(f"{where}: listed twice")
        seen.add(where)
        if not str(p.get("uri", "")).startswith("https://"):
            bad.append(f"{where}: uri")
        sha = str(p.get("sha256", ""))
        if not re.fullmatch(r"[a-f0-9]{64}", sha) or set(sha) == {"0"}:
            bad.append(f"{where}: sha256 {sha!r} (64 lowercase hex, not a placeholder)")
        files = p.get("files")
        if files is not None:
            if not files or any(not f.get("from") or not f.get("to") for f in files):
                bad.append(f"{where}: files need from and to")
            if any(os.path.normpath(f.get("to", "")) != f.get("to") for f in files):
                bad.append(f"{where}: files.to must be a clean path")
            froms = {f.get("from") for f in files}
            if p.get("bin") not in froms:
                bad.append(f"{where}: bin {p.get('bin')!r} is not installed by files")
            if "LICENSE" not in froms:
                bad.append(f"{where}: LICENSE not installed")
        if not p.get("bin"):
            bad.append(f"{where}: bin missing")
    return bad


def test_committed_manifest_follows_krews_rules() -> None:
    manifest = ROOT / "krew" / "lws.yaml"
    assert krew_rule_violations(manifest) == []
    spec = yaml.safe_load(manifest.read_text())["spec"]
    assert spec["version"] == f"v{__version__}"
    assert "python" not in spec["caveats"].lower().replace("no python is needed", "")
    for entry in build_py.read_entries(manifest):  # each sha256 says what it was built from
        assert re.fullmatch(r"[0-9a-f]{64}", entry["inputs"]), entry


def test_rules_catch_a_bad_manifest(tmp_path: Path) -> None:
    """The checker itself can fail: a placeholder sha256, a long description, a bin not installed."""
    doc = yaml.safe_load((ROOT / "krew" / "lws.yaml").read_text())
    doc["spec"]["shortDescription"] = "x" * 51
    doc["spec"]["version"] = "0.1.0"
    doc["spec"]["platforms"][0]["sha256"] = "0" * 64
    doc["spec"]["platforms"][0]["files"] = [{"from": "LICENSE", "to": "."}]
    bad = tmp_path / "lws.yaml"
    bad.write_text(yaml.safe_dump(doc))
    found = " ".join(krew_rule_violations(bad))
    for word in ("shortDescription", "spec.version", "sha256", "bin"):
        assert word in found


def test_same_inputs_give_the_same_archive(krew_build) -> None:
    """Built twice, at once, from two folders: the same bytes."""
    assert krew_build.entry["inputs"] == krew_build.copy_entry["inputs"]
    assert krew_build.entry["sha256"] == krew_build.copy_entry["sha256"]
    assert hashlib.sha256(krew_build.archive.read_bytes()).hexdigest() == krew_build.entry["sha256"]


def test_build_writes_this_platforms_entry(krew_build) -> None:
    os_, arch = build_py.platform_tag()
    assert krew_rule_violations(krew_build.manifest) == []
    entries = {(e["os"], e["arch"]): e for e in build_py.read_entries(krew_build.manifest)}
    mine = entries[(os_, arch)]
    assert mine["sha256"] == hashlib.sha256(krew_build.archive.read_bytes()).hexdigest()
    assert mine["inputs"] == krew_build.entry["inputs"] and mine["version"] == __version__
    platform = next(p for p in yaml.safe_load(krew_build.manifest.read_text())["spec"]["platforms"]
                    if p["selector"]["matchLabels"] == {"os": os_, "arch": arch})
    assert platform["uri"].endswith(f"/v{__version__}/{krew_build.archive.name}")


def test_committed_sha256_is_what_this_tree_builds(krew_build) -> None:
    """The committed entry is real: when this tree and environment are the inputs it records, the
    build gives exactly its sha256. (After sources or dependencies change, it describes the last
    release build until `python krew/build.py` or the release workflow writes it again.)"""
    os_, arch = build_py.platform_tag()
    committed = {(e["os"], e["arch"]): e for e in build_py.read_entries(ROOT / "krew" / "lws.yaml")}
    if (os_, arch) not in committed:
        pytest.skip(f"{os_}/{arch} is not in the committed manifest")
    entry = committed[(os_, arch)]
    if entry["inputs"] != krew_build.entry["inputs"]:
        pytest.skip("the committed linux entry was built from other inputs (sources or package versions "
                    "changed since): run `python krew/build.py` to write it again")
    assert entry["sha256"] == krew_build.entry["sha256"]


def test_archive_holds_what_krew_installs(krew_build) -> None:
    with tarfile.open(krew_build.archive) as tar:
        members = tar.getmembers()
    names = {m.name for m in members}
    assert {"kubectl-lws", "kubectl_complete-lws", "LICENSE", "_internal"} <= names
    assert {n.split("/")[0] for n in names} == {"kubectl-lws", "kubectl_complete-lws", "LICENSE", "_internal"}
    assert all(m.isfile() or m.isdir() for m in members)  # krew unpacks nothing else
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {m.mtime for m in members} == {build_py.EPOCH} and {m.uid for m in members} == {0}
    by_name = {m.name: m for m in members}
    assert by_name["kubectl-lws"].mode == 0o755 and by_name["kubectl_complete-lws"].mode == 0o755
    # the simulated cluster and every command module are frozen in, so `sandbox demo` works from krew
    for module in ("kubectl_lws/sandbox/apiserver", "kubectl_lws/commands/status", "aiohttp/web"):
        assert any(n.startswith(f"_internal/{module}.") for n in names), module
    assert "_internal/kubectl_lws/sandbox/scenarios/demo.yaml" in names
    # every module of the package, also those only imported lazily by name (cli.COMMANDS), and new ones
    sources = {p.relative_to(ROOT).with_suffix(".pyc").as_posix()
               for p in (ROOT / "kubectl_lws").rglob("*.py") if "__pycache__" not in p.parts}
    assert {f"_internal/{s}" for s in sources} <= names


# ---- installed the way krew installs it --------------------------------------------------------

def _krew_install(archive: Path, manifest: Path, root: Path) -> None:
    """What `kubectl krew install --manifest=... --archive=...` does (internal/installation): unpack
    regular files and folders only, apply the platform's `files` moves into
    store/<plugin>/<version>, link bin/kubectl-<plugin> to `bin` with a relative link, keep a receipt."""
    doc = yaml.safe_load(manifest.read_text())
    os_, arch = build_py.platform_tag()
    platform = next(p for p in doc["spec"]["platforms"] if p["selector"]["matchLabels"] == {"os": os_, "arch": arch})
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == platform["sha256"]
    staging = root.parent / "krew-staging"
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            assert member.isfile() or member.isdir(), f"krew cannot unpack {member.name}"
        tar.extractall(staging)
    store = root / "store" / doc["metadata"]["name"] / doc["spec"]["version"]
    store.mkdir(parents=True)
    for op in platform.get("files") or [{"from": "*", "to": "."}]:
        source = staging / op["from"]
        assert source.exists(), op
        os.rename(source, store / (source.name if op["to"] == "." else op["to"]))
    (root / "bin").mkdir()
    os.symlink(os.path.relpath(store / platform["bin"], root / "bin"), root / "bin" / "kubectl-lws")
    (root / "receipts").mkdir()
    shutil.copy(manifest, root / "receipts" / "lws.yaml")


@pytest.fixture(scope="module")
def krew_env(krew_build, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A KREW_ROOT with the plugin, and an environment whose PATH has kubectl and no Python at all."""
    work = tmp_path_factory.mktemp("krew-root")
    root = work / "krew"
    _krew_install(krew_build.archive, krew_build.manifest, root)
    tools = work / "tools"  # only what the tests call: kubectl and a shell for the completion shim
    tools.mkdir()
    for tool in (KUBECTL, "/bin/sh"):
        os.symlink(os.path.realpath(tool), tools / Path(tool).name)
    env = {"PATH": f"{root / 'bin'}:{tools}", "HOME": str(work / "home"), "KREW_ROOT": str(root),
           "LANG": "C.UTF-8"}
    (work / "home").mkdir()
    for python in ("python3", "python", f"python3.{sys.version_info.minor}"):
        assert shutil.which(python, path=env["PATH"]) is None
    return env


def _run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_kubectl_runs_the_krew_installed_plugin_without_python(krew_env: dict[str, str]) -> None:
    listed = _run([KUBECTL, "plugin", "list"], krew_env)
    assert "kubectl-lws" in listed.stdout
    result = _run([KUBECTL, "lws", "version"], krew_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"kubectl-lws: {__version__}")
    bad = _run([KUBECTL, "lws", "nosuch"], krew_env)
    assert bad.returncode == 2 and "unknown command" in bad.stderr and "Traceback" not in bad.stderr


def test_status_and_completion_against_the_sandbox(krew_env: dict[str, str], tmp_path: Path) -> None:
    from conftest import scenario_sandbox

    with scenario_sandbox("demo") as sb:
        env = {**krew_env, "KUBECONFIG": sb.write_kubeconfig(tmp_path / "kc.yaml", namespace="demo")}
        result = _run([KUBECTL, "lws", "status", "healthy"], env)
        assert result.returncode == 0, result.stderr
        assert "healthy" in result.stdout and "Ready" in result.stdout

        # kubectl's plugin completion: krew links one binary, `completion install` adds the other
        installed = _run([KUBECTL, "lws", "completion", "install"], env)
        assert installed.returncode == 0, installed.stderr
        done = _run([KUBECTL, "__complete", "lws", "status", ""], env)
        assert done.returncode == 0, done.stderr
        names = [line.split("\t")[0] for line in done.stdout.splitlines()]
        assert "healthy" in names and names[-1] == ":4"

        # the archive's own kubectl_complete-lws (what a user links by hand) answers the same
        store = next((Path(krew_env["KREW_ROOT"]) / "store" / "lws").iterdir())
        direct = _run([str(store / "kubectl_complete-lws"), "status", ""], env)
        assert direct.stdout == done.stdout


def test_sandbox_runs_from_the_krew_install(krew_env: dict[str, str], tmp_path: Path) -> None:
    """The frozen program is its own Python: `sandbox up --detach` re-runs it for the server."""
    kubeconfig = str(tmp_path / "sandbox.yaml")
    up = _run([KUBECTL, "lws", "sandbox", "up", "--scenario", "demo", "--detach", "--kubeconfig", kubeconfig],
              krew_env)
    try:
        assert up.returncode == 0, up.stderr
        listed = _run([KUBECTL, "lws", "list", "-A", "--kubeconfig", kubeconfig], krew_env)
        assert listed.returncode in (0, 3), listed.stderr
        assert "healthy" in listed.stdout
    finally:
        down = _run([KUBECTL, "lws", "sandbox", "down", "--kubeconfig", kubeconfig], krew_env)
    assert down.returncode == 0, down.stderr


def test_sandbox_demo_from_the_krew_install(krew_env: dict[str, str], tmp_path: Path) -> None:
    result = _run([KUBECTL, "lws", "sandbox", "demo", "--kubeconfig", str(tmp_path / "demo.yaml")], krew_env,
                  timeout=180)
    assert result.returncode == 0, result.stderr
    assert "healthy" in result.stdout and "GROUP" in result.stdout


def test_frozen_program_runs_the_sandboxs_stand_in_scripts(krew_env: dict[str, str], tmp_path: Path) -> None:
    """The sandbox starts its stand-in servers as `sys.executable -I -S <file>.py`; frozen, that is us."""
    import socket
    import urllib.request

    store = next((Path(krew_env["KREW_ROOT"]) / "store" / "lws").iterdir())
    script = store / "_internal" / "kubectl_lws" / "sandbox" / "runtime" / "standins" / "server.py"
    assert script.is_file()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(store / "kubectl-lws"), "-I", "-S", str(script), "--port", str(port)],
                            env=krew_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "ready" in proc.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert response.status == 200
    finally:
        proc.kill()
        proc.wait()
    # only scripts shipped inside the build run: the program is not a general Python
    other = tmp_path / "other.py"
    other.write_text("print('ran')\n")
    result = _run([str(store / "kubectl-lws"), "-I", "-S", str(other)], krew_env)
    assert "ran" not in result.stdout and result.returncode == 2
