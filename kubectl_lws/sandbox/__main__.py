"""``python -m kubectl_lws.sandbox ...``: the sandbox CLI group without the plugin root (used by `up --detach`)."""
from kubectl_lws.commands.sandbox import sandbox

if __name__ == "__main__":
    sandbox(prog_name="python -m kubectl_lws.sandbox")
