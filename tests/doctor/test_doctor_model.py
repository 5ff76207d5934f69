"""Pure checks: certificate parsing, lease staleness, the maxUnavailable fact, the permission matrix."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from kubectl_lws.model import doctor as d
from kubectl_lws.model.certs import CertError, parse_ca_bundle, parse_der, pem_blocks

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def ca_pem() -> bytes:
    from kubectl_lws.sandbox.lwssystem import _process_ca

    pem = _process_ca()
    if not pem:
        pytest.skip("openssl not available")
    return pem


def test_cert_validity_and_fingerprint(ca_pem: bytes) -> None:
    info = parse_der(pem_blocks(ca_pem)[0])
    assert info.subject_cn == "lws-ca"
    assert timedelta(days=364) < info.not_after - info.not_before < timedelta(days=366)
    assert len(info.sha256) == 64
    assert parse_ca_bundle(base64.b64encode(ca_pem + ca_pem).decode())[1].sha256 == info.sha256


def test_expired_copy_is_parsed_as_expired(ca_pem: bytes) -> None:
    from kubectl_lws.sandbox.lwssystem import expired_copy

    info = parse_der(pem_blocks(expired_copy(ca_pem, 3))[0])
    assert info.days_left(datetime.now(timezone.utc)) < -2


@pytest.mark.parametrize("bundle", ["", "not base64!", base64.b64encode(b"no pem here").decode(),
                                    base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                     b"-----END CERTIFICATE-----\n").decode()])
def test_bad_ca_bundles_raise(bundle: str) -> None:
    with pytest.raises(CertError):
        parse_ca_bundle(bundle)


def test_lease_fresh_and_stale() -> None:
    lease = {"spec": {"holderIdentity": "lws-controller-manager-abc_1234", "leaseDurationSeconds": 15,
                      "renewTime": "2026-11-25T11:59:55.000000Z"}}
    assert d.check_lease(lease, None, "lws-system", NOW).status == d.PASS
    lease["spec"]["renewTime"] = "2026-11-25T11:58:00Z"
    stale = d.check_lease(lease, None, "lws-system", NOW)
    assert stale.status == d.FAIL and "2m" in stale.message and stale.fix
    assert d.check_lease(None, "forbidden", "lws-system", NOW).status == d.WARN


def test_max_unavailable_dropped_by_the_apiserver_is_a_warn() -> None:
    lws = {"metadata": {"name": "big"}, "spec": {"replicas": 8, "rolloutStrategy": {
        "rollingUpdateConfiguration": {"maxUnavailable": "50%"}}}}
    sts = {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}
    [check] = d.check_max_unavailable([lws], {"big": sts})
    assert check.status == d.WARN and "big (maxUnavailable 4)" in check.message
    sts["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] = 4
    assert d.check_max_unavailable([lws], {"big": sts})[0].status == d.INFO


def test_permission_matrix_names_what_is_missing() -> None:
    allowed = {p.key: True for p in d.PERMS}
    allowed["create-exec"] = False
    allowed["list-nodes"] = False
    rows = {r["command"]: r for r in d.permission_matrix(allowed)}
    assert rows["verify env --live / nccl"]["works"] == "no"
    assert rows["verify env --live / nccl"]["missing"] == ["create pods/exec"]
    assert rows["status"]["works"] == "degraded" and rows["list"]["works"] == "yes"


def test_every_command_has_its_row_and_names_its_own_permissions() -> None:
    allowed = {p.key: True for p in d.PERMS}
    allowed["get-proxy"] = False
    allowed["get-log"] = False
    allowed["watch-events"] = False
    rows = {r["command"]: r for r in d.permission_matrix(allowed)}
    assert {"events", "events -w", "metrics", "map", "record", "history (from the cluster)", "dashboard"} <= set(rows)
    assert rows["metrics"] == {"command": "metrics", "works": "no", "missing": ["get pods/proxy"], "degraded": []}
    assert rows["record"]["works"] == "degraded" and rows["record"]["degraded"] == ["get pods/log", "watch events"]
    assert rows["events -w"]["works"] == "no" and rows["events"]["works"] == "yes"
    assert rows["map"]["works"] == "yes" and rows["dashboard"]["works"] == "degraded"


def test_disaggregatedset_rows_only_where_sets_are_served() -> None:
    allowed = {p.key: True for p in d.PERMS}
    assert not any("ds/" in r["command"] for r in d.permission_matrix(allowed))
    allowed.update({p.key: p.key != "patch-dsrs-scale" for p in d.DS_PERMS})
    rows = {r["command"]: r for r in d.permission_matrix(allowed, ds=True)}
    assert rows["status ds/"]["works"] == "yes" and rows["scale ds/ (Static, slices)"]["works"] == "yes"
    assert rows["scale ds/ (External)"] == {"command": "scale ds/ (External)", "works": "no",
                                            "missing": ["patch disaggregatedsetrolescalers/scale"], "degraded": []}
    [namespace] = [c for c in d.check_permissions(allowed, "prod") if c.name == "namespace"]
    assert namespace.status == d.WARN and "scale ds/ (External)" in namespace.message


def test_image_tag() -> None:
    assert d.image_tag("registry.k8s.io/lws/lws:v0.10.0") == "v0.10.0"
    assert d.image_tag("localhost:5000/lws@sha256:abc") == ""
    assert d.image_tag("localhost:5000/lws:v1@sha256:abc") == "v1"


def test_read_only_user_is_a_warn_not_a_fail() -> None:
    allowed = {p.key: p.verb in ("get", "list", "watch") for p in d.PERMS}
    checks = {c.name: c for c in d.check_permissions(allowed, "prod")}
    assert checks["namespace"].status == d.WARN
    assert "restart" in checks["namespace"].message and "delete pods" in checks["namespace"].message
    allowed["get-log"] = False
    assert {c.name: c for c in d.check_permissions(allowed, "prod")}["namespace"].status == d.FAIL
