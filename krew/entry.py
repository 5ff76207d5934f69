"""Entry point of the frozen (PyInstaller) build: one program, two names.

``kubectl-lws`` runs the CLI; ``kubectl_complete-lws`` (same program under another name, or any
link to it) runs kubectl's plugin completion. ``sys.executable`` is this program, not a Python, so
``<exe> -m kubectl_lws.<module> ...`` (how ``sandbox up --detach`` starts its server) is emulated
here for our own modules.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    argv = sys.argv
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
