"""Issue 25 class 1: every exec session carries the impersonation (--as, --as-group, --as-uid, the
kubeconfig user's ``as*``) like every other request, over both transports, or nothing runs.

The sandbox authorizes ``create pods/exec`` for the impersonated user, as kube-apiserver does: a user who
may read pods but not exec gets a 403, and ``verify --live`` must stop with it (exit 1), never PASS with
the caller's own rights.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubectl_lws.errors import ConfigError, UsageError

READ_ONLY = [{"verbs": ["get", "list", "watch"], "resources": ["*"], "apiGroups": ["*"]}]
TRANSPORTS = [pytest.param({}, id="light"), pytest.param({"KUBECTL_LWS_TRANSPORT": "client"}, id="client")]
# verify runtime --live: tests/verify/test_runtime_e2e.py (it needs a serving stack to exec into)
VERIFY = [pytest.param(["verify", "env", "web", "--live"], id="env"),
          pytest.param(["verify", "nccl", "web", "--timeout", "5s"], id="nccl")]


@pytest.fixture
def limited(hard) -> str:  # noqa: ANN001
    """A user who may read everything and exec nothing."""
    hard.add_token("limited-reader-token", "limited-reader", READ_ONLY)
    return "limited-reader"


def _execs(hard) -> list[tuple[int, str]]:  # noqa: ANN001
    return [(e[3], e[5]) for e in hard.request_log.snapshot() if e[1].endswith("/exec")]


@pytest.mark.parametrize("env", TRANSPORTS)
@pytest.mark.parametrize("args", VERIFY)
def test_exec_as_a_user_who_may_not_exec_is_refused(hard, kc, proc, limited, env, args) -> None:  # noqa: ANN001
    hard.request_log.clear()
    done = proc([*args, "--as", limited], kubeconfig=kc, env=env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f'User "{limited}" cannot create resource "pods/exec"' in done.stderr
    assert "hint: --live needs `create` on pods/exec" in done.stderr
    assert "PASS" not in done.stdout
    execs = _execs(hard)
    assert execs and all(status == 403 for status, _ in execs), execs


@pytest.mark.parametrize("env", TRANSPORTS)
def test_exec_carries_user_and_groups(hard, kc, proc, limited, env) -> None:  # noqa: ANN001
    """system:masters (a group) gives the impersonated user exec: only the group header can have done it."""
    hard.request_log.clear()
    done = proc(["verify", "env", "web", "--live", "--as", limited, "--as-group", "system:masters"],
                kubeconfig=kc, env=env)
    assert done.returncode == 0, (done.stdout, done.stderr)
    execs = _execs(hard)
    assert execs and all(e == (101, limited) for e in execs), execs


@pytest.mark.parametrize("env", TRANSPORTS)
def test_kubeconfig_impersonation_is_honoured_for_exec(hard, kc, proc, limited, env) -> None:  # noqa: ANN001
    """A kubeconfig user with ``as:`` was silently dropped by the client path; now every request has it."""
    doc = yaml.safe_load(Path(kc).read_text())
    doc["users"][0]["user"]["as"] = limited
    Path(kc).write_text(yaml.safe_dump(doc))
    hard.request_log.clear()
    done = proc(["verify", "env", "web", "--live"], kubeconfig=kc, env=env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f'User "{limited}" cannot create resource "pods/exec"' in done.stderr
    assert all(status == 403 for status, _ in _execs(hard))


def test_uid_needs_the_right_to_impersonate_uids(hard, kc, proc, limited) -> None:  # noqa: ANN001
    hard.add_token("imp-token", "impersonator", [
        *READ_ONLY, {"verbs": ["impersonate"], "resources": ["users", "groups"], "apiGroups": [""]}])
    args = ["status", "web", "--token", "imp-token", "--as", limited]
    assert proc(args, kubeconfig=kc).returncode == 0
    done = proc([*args, "--as-uid", "1234"], kubeconfig=kc)
    assert done.returncode == 1
    assert 'cannot impersonate resource "uids"' in done.stderr


def test_groups_or_uid_without_a_user_are_refused_before_any_request(hard, kc, proc) -> None:  # noqa: ANN001
    hard.request_log.clear()
    for extra in (["--as-group", "system:masters"], ["--as-uid", "7"]):
        done = proc(["verify", "env", "web", "--live", *extra], kubeconfig=kc)
        assert done.returncode == 2, done.stderr
        assert "without impersonating a user" in done.stderr
    assert hard.request_log.snapshot() == []


def test_impersonation_headers_rules() -> None:
    from kubectl_lws.kubeconfig import ConnectionSettings, impersonation_headers

    flags = ConnectionSettings(as_user="alice", as_groups=["g1", "g2"], as_uid="u-1")
    assert impersonation_headers(flags, {"as": "bob", "as-groups": ["x"]}) == [
        ("Impersonate-User", "alice"), ("Impersonate-Group", "g1"), ("Impersonate-Group", "g2"),
        ("Impersonate-Uid", "u-1")]
    from_file = {"as": "bob", "as-groups": ["x"], "as-user-extra": {"scopes/a": ["r", "w"]}}
    assert impersonation_headers(ConnectionSettings(), from_file) == [
        ("Impersonate-User", "bob"), ("Impersonate-Group", "x"), ("Impersonate-Extra-scopes%2Fa", "r"),
        ("Impersonate-Extra-scopes%2Fa", "w")]
    assert impersonation_headers(ConnectionSettings(), {}) == []
    with pytest.raises(ConfigError):
        impersonation_headers(ConnectionSettings(), {"as-groups": ["x"]})
    with pytest.raises(UsageError):
        impersonation_headers(ConnectionSettings(as_user="a\r\nX-Evil: 1"), {})
