"""A simulated Kubernetes cluster for tests, demos and benchmarks (``kubectl lws sandbox``).

Nothing in the product imports this package. Entry points: :class:`Sandbox` (start/stop, kubeconfig,
faults), :class:`Store` (objects + change feed) and :class:`ApiError` (kube-shaped Status errors).

Security model: it listens on 127.0.0.1 only. Over plain HTTP (the default) a request without
credentials is treated as admin, because kubectl never sends a bearer token over plain HTTP (kube's
old insecure port behaved the same); a wrong token gets 401 and rule-limited tokens get 403s. With
``Sandbox(tls=True)`` (``kubectl lws sandbox up --tls``) every request needs a token.
"""
from .errors import ApiError
from .store import Store

__all__ = ["ApiError", "Store", "Sandbox"]


def __getattr__(name: str):  # lazy: importing the store must not require aiohttp
    if name == "Sandbox":
        from .sandbox import Sandbox
        return Sandbox
    raise AttributeError(name)
