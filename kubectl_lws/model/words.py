"""Small wording helpers shared by the models' messages (kept apart so that a model needing only
these does not import another model: ``list`` imports events, and events must not pull in rollout)."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    """``1 group``, ``3 groups``."""
    return f"{count} {word}" + ("" if count == 1 else "s")
