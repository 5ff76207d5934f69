"""The grace both rollouts (LWS and ds/) give a new revision that looks failing (waiting.FailingGrace)."""
from __future__ import annotations

import time

from kubectl_lws.waiting import FailingGrace


def test_a_definitive_failure_fails_at_once_even_while_pods_terminate():
    assert FailingGrace(60).failed(True, definitive=True, terminating=True)


def test_a_failure_fails_once_it_has_lasted_the_grace_and_not_before():
    grace = FailingGrace(0.2)
    assert not grace.failed(True, definitive=False, terminating=False)
    time.sleep(0.25)
    assert grace.failed(True, definitive=False, terminating=False)


def test_a_recovery_or_a_terminating_pod_restarts_the_clock():
    for pause in ({"failing": False, "terminating": False}, {"failing": True, "terminating": True}):
        grace = FailingGrace(0.2)
        assert not grace.failed(True, definitive=False, terminating=False)
        time.sleep(0.25)
        assert not grace.failed(pause["failing"], definitive=False, terminating=pause["terminating"])
        assert not grace.failed(True, definitive=False, terminating=False)
