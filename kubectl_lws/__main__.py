"""Allow ``python -m kubectl_lws``."""

from kubectl_lws.cli import main

if __name__ == "__main__":
    main()
