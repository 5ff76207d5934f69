"""Entry point of the frozen (PyInstaller) build: one program, two names.

``kubectl-lws`` runs the CLI; ``kubectl_complete-lws`` (same program under another name, or any
link to it) runs kubectl's plugin completion. ``sys.executable`` is this program, not a Python, so
the two ways our code starts a Python child are emulated here: ``<exe> -m kubectl_lws.<module> ...``
(``sandbox up --detach`` starts its server so) and ``<exe> [-I] [-S] <file>.py ...`` for the
sandbox's stand-in programs (shipped as source beside the frozen modules, see kubectl-lws.spec).
"""

from __future__ import annotations

import os
import sys

# interpreter flags our code passes before a script (they change nothing for a frozen program)
_PYTHON_FLAGS = {"-I", "-S", "-E", "-s", "-u", "-B"}


def _script(argv: list[str]) -> list[str] | None:
    """``[script, args...]`` when argv is a Python command line running one of the .py files shipped
    inside this build, else None (no other script is run: this is not a general Python)."""
    rest = argv[1:]
    while rest and rest[0] in _PYTHON_FLAGS:
        rest = rest[1:]
    if not rest or not rest[0].endswith(".py") or not os.path.isfile(rest[0]):
        return None
    home = os.path.realpath(getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(__file__))))
    if os.path.commonpath([home, os.path.realpath(rest[0])]) != home:
        return None
    return rest


def _clean_environment() -> None:
    """Give the programs we start (openssl, ip, a pod's commands, this program again) the user's
    environment, not the frozen runtime's: PyInstaller's bootloader points LD_LIBRARY_PATH (macOS:
    DYLD_LIBRARY_PATH) at _internal/, whose bundled libssl/libcrypto would then be loaded by the
    system's openssl, and marks its process tree with _PYI_* variables. This process does not need
    them any more: the dynamic loader read its search path at start-up."""
    home = getattr(sys, "_MEIPASS", None)
    if home is None:
        return
    for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
        original = os.environ.pop(f"{var}_ORIG", None)
        if original is not None:
            os.environ[var] = original
        elif os.environ.get(var, "").split(os.pathsep)[0] == home:
            del os.environ[var]
    for var in [v for v in os.environ if v.startswith("_PYI_")]:
        del os.environ[var]


def main() -> None:
    _clean_environment()
    argv = sys.argv
    script = _script(argv)
    if script is not None:
        import runpy

        sys.argv = script
        runpy.run_path(script[0], run_name="__main__")
        return
    if len(argv) >= 3 and argv[1] == "-m" and argv[2].split(".")[0] == "kubectl_lws":
        import runpy

        module = argv[2]
        sys.argv = [argv[0], *argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    if os.path.basename(argv[0]).startswith("kubectl_complete-lws"):
        from kubectl_lws.completion_entry import main as complete

        complete()
        return
    from kubectl_lws.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
