"""What every mutating command shares: plan, consent, dry-run and optimistic-concurrency retries.

The rules (README "Safety"): the plan goes to stderr; on a TTY we ask; ``-y`` skips the question;
with no TTY and no ``-y`` we refuse with exit 2, so nothing changes without consent. A 409 is
retried after a fresh read only while the freshly computed plan is still the same one the user
agreed to; otherwise the user is told what changed.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence, TypeVar

import click

from kubectl_lws import errors
from kubectl_lws.options import AppContext

T = TypeVar("T")
MAX_CONFLICT_RETRIES = 3
KIND_PREFIX = "leaderworkerset.leaderworkerset.x-k8s.io"  # kubectl's "<resource>.<group>/<name>" lines


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def show_plan(app: AppContext, title: str, lines: Sequence[str]) -> None:
    """Print the plan on stderr (data stays on stdout)."""
    from kubectl_lws.render.output import echo
    from kubectl_lws.render.safe import style

    # the title and lines carry cluster words (names, revisions, annotation values): made safe first
    echo(style(title, app.use_color(sys.stderr), bold=True), err=True)
    for line in lines:
        app.info(f"  {line}")


def consent(app: AppContext, *, yes: bool, dry_run: str, question: str = "Proceed?") -> bool:
    """True when the change may be sent. Dry-run client: False (plan only). No TTY, no -y: exit 2."""
    if dry_run == "client":
        app.info("dry run (client): nothing was changed")
        return False
    if yes or dry_run == "server":
        return True
    if not stdin_is_tty():
        raise errors.UsageError("refusing to change the cluster without confirmation: stdin is not a "
                                "terminal; pass -y/--yes to proceed or --dry-run to preview")
    if not click.confirm(question, default=False, err=True):
        app.info("aborted: nothing was changed")
        return False
    return True


def apply_with_retry(agreed: Any, request: T, replan: Callable[[], tuple[Any, T]],
                     send: Callable[[T], Any], *,
                     describe_change: Callable[[Any, Any], str] | None = None) -> Any:
    """Send a change planned on a read; on 409 re-read and re-plan, continuing only if unchanged.

    ``agreed`` is what the user consented to (e.g. the new partition and the groups it re-creates)
    and ``request`` carries the resourceVersion it was planned on. ``replan()`` reads the object
    again and returns a fresh ``(agreed, request)`` pair.
    """
    for attempt in range(MAX_CONFLICT_RETRIES + 1):
        try:
            return send(request)
        except errors.Conflict:
            if attempt == MAX_CONFLICT_RETRIES:
                raise
            fresh, request = replan()
            if fresh != agreed:
                what = describe_change(agreed, fresh) if describe_change else "the plan changed"
                raise errors.Conflict(f"the object changed while applying: {what}; nothing was "
                                      "changed, run the command again to see the new plan",
                                      code=409, reason="Conflict")
    raise AssertionError("unreachable")


def list_hpas(app: AppContext, namespace: str) -> list[dict]:
    """The namespace's HorizontalPodAutoscalers, best effort: a cluster without autoscaling/v2 or
    without list rights has none we can see (``-v 1`` says why)."""
    try:
        return app.cluster.list("horizontalpodautoscalers", namespace)[0]
    except errors.LwsError as exc:
        if app.verbosity >= 1 or app.debug:
            app.info(f"could not check for HorizontalPodAutoscalers: {exc.message}")
        return []
