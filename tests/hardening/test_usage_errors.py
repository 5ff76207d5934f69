"""Item 10 of issue 16: click's usage errors in kubectl's words, one ``error:`` line + a ``hint:``, exit 2."""

from __future__ import annotations

import pytest

from cliutil import run_cli


@pytest.mark.parametrize("args, error, hint", [
    (["status", "web", "--bogus"], "error: unknown flag: --bogus", "hint: see 'kubectl lws status --help'"),
    (["status", "web", "-Z"], "error: unknown shorthand flag: 'Z' in -Z", "hint: see 'kubectl lws status --help'"),
    (["--bogus", "list"], "error: unknown flag: --bogus", "hint: see 'kubectl lws --help'"),
    (["rollout", "pause", "web", "--bogus"], "error: unknown flag: --bogus",
     "hint: see 'kubectl lws rollout pause --help'"),
    (["scale"], "error: missing argument NAME", "hint: see 'kubectl lws scale --help'"),
    (["scale", "web"], "error: required flag not set: --replicas", "hint: see 'kubectl lws scale --help'"),
    (["-n", "x", "scale", "web", "--replicas"], "error: flag needs an argument: --replicas",
     "hint: see 'kubectl lws scale --help'"),
    (["logs", "web", "--tail", "abc"], "error: invalid value for --tail: 'abc' is not a valid integer",
     "hint: see 'kubectl lws logs --help'"),
    (["status", "a", "b"], "error: unexpected argument: b", "hint: see 'kubectl lws status --help'"),
    (["rollout", "bogus"], 'error: unknown command "bogus" for "kubectl lws rollout"',
     "hint: see 'kubectl lws rollout --help'"),
    (["status", "web", "--color", "pink"],
     "error: invalid value for --color: 'pink' is not one of 'auto', 'always', 'never'",
     "hint: see 'kubectl lws status --help'"),
])
def test_usage_errors_are_one_error_line_and_a_hint(args: list[str], error: str, hint: str) -> None:
    result = run_cli(args, kubeconfig="/nonexistent")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [error, hint]
    assert result.stdout == ""


def test_usage_error_through_the_console_script(proc) -> None:  # noqa: ANN001
    done = proc(["status", "web", "--bogus"], kubeconfig="/nonexistent")
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: unknown flag: --bogus", "hint: see 'kubectl lws status --help'"]
