"""A simulated Kubernetes cluster for tests, demos and benchmarks (``kubectl lws sandbox``).

Nothing in the product imports this package. Entry points: :class:`Sandbox` (start/stop, kubeconfig,
faults), :class:`Store` (objects + change feed) and :class:`ApiError` (kube-shaped Status errors).
"""
from .errors import ApiError
from .store import Store

__all__ = ["ApiError", "Store", "Sandbox"]


def __getattr__(name: str):  # lazy: importing the store must not require aiohttp
    if name == "Sandbox":
        from .sandbox import Sandbox
        return Sandbox
    raise AttributeError(name)
