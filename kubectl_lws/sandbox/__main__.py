"""``python -m kubectl_lws.sandbox ...``: the sandbox CLI group without the plugin root (used by `up --detach`).

Errors go through the plugin's ``cli.run`` so the detached log shows the same one-line messages."""
import sys

from kubectl_lws.cli import run
from kubectl_lws.commands.sandbox import sandbox

if __name__ == "__main__":
    sys.exit(run(sandbox, None, "python -m kubectl_lws.sandbox"))
