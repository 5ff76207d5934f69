"""Shared renderers: kubectl-looking tables and ages."""

from __future__ import annotations

import pytest

from kubectl_lws.render.output import human_age, table
from kubectl_lws.render.safe import style


def test_table_looks_like_kubectl() -> None:
    text = table(["name", "ready"], [["basic", "3/3"], ["x", style("0/3", True, fg="red")], ["  (child)", None]])
    assert text.splitlines() == [
        "NAME        READY",
        "basic       3/3",
        "x           \x1b[31m0/3\x1b[0m",  # colour codes take no width
        "  (child)",  # a tree line keeps its indent
    ]
    assert table(["a", "b"], [["1", "2"]], no_headers=True) == "1   2"
    assert table(["a", "b"], []) == "A   B"


def test_table_cells_from_the_cluster_cannot_drive_the_terminal() -> None:
    """Any cell not made by safe.style is escaped by the table itself; Styled cells keep our colours."""
    hostile = "web\x1b]0;pwned\x07\x1b[2J\rX"
    text = table(["name", "state"], [[hostile, style(hostile, True, fg="green")]])
    row = text.splitlines()[1]
    assert row.count("\x1b") == 2 and row.startswith("web^[]0;pwned^G^[[2J\\rX")
    assert "\r" not in text and "\x07" not in text


@pytest.mark.parametrize("seconds,text", [(None, "<unknown>"), (-3, "0s"), (45, "45s"), (302, "5m2s"),
                                          (660, "11m"), (3 * 3600 + 12 * 60, "3h12m"), (20 * 3600, "20h"),
                                          (52 * 3600, "2d4h"), (400 * 86400, "400d"),
                                          (3 * 365 * 86400 + 2 * 86400, "3y2d")])
def test_ages_like_kubectl(seconds: float | None, text: str) -> None:
    assert human_age(seconds) == text
