"""NCCL model: NCCL_SOCKET_IFNAME syntax, /dev/shm, group consistency, probe records."""
from __future__ import annotations

import re

import pytest

from kubectl_lws import probe
from kubectl_lws.model import ncclcheck
from kubectl_lws.model.groups import Group

IFACES = [{"name": "lo", "addrs": ["127.0.0.1"]}, {"name": "eth0", "addrs": ["10.0.0.5"]},
          {"name": "eth1", "addrs": []}, {"name": "docker0", "addrs": ["172.17.0.1"]},
          {"name": "ens5", "addrs": ["10.1.0.5"]}, {"name": "ib0", "addrs": ["192.168.0.5"]}]


def chosen(spec):
    return [i["name"] for i in ncclcheck.select_interfaces(spec, IFACES)]


@pytest.mark.parametrize("spec,names", [
    ("eth", ["eth0"]),                    # prefix; eth1 has no address
    ("eth0", ["eth0"]),
    ("=eth", []),                         # exact: no interface is called "eth"
    ("=eth0,ens5", ["eth0", "ens5"]),
    ("^lo,docker", ["eth0", "ens5", "ib0"]),
    ("^=lo", ["eth0", "docker0", "ens5", "ib0"]),
    ("^e", ["lo", "docker0", "ib0"]),
    ("ens9", []),
    ("eth0:29500", ["eth0"]),             # a port suffix does not change interface matching
    (None, ["ib0"]),                      # unset: NCCL prefers ib*
    ("", ["ib0"]),
])
def test_ifname_syntax(spec, names):
    assert chosen(spec) == names


def test_default_without_ib_excludes_lo_and_docker():
    ifaces = [i for i in IFACES if i["name"] != "ib0"]
    assert [i["name"] for i in ncclcheck.select_interfaces(None, ifaces)] == ["eth0", "ens5"]


def test_probe_matcher_agrees_with_model():
    """The probe carries its own copy of the matcher; both must give NCCL's answer."""
    src = re.search(r"^def match\(spec, name\):\n(?:    .*\n)+", probe.PYTHON_PROBE, re.M).group(0)
    scope: dict = {}
    exec(src, scope)  # noqa: S102 — our own constant program text
    for spec in ("eth", "=eth0", "^lo,docker", "^=lo", "eth0:1,ib", "=", "^", " eth0 "):
        for iface in IFACES:
            assert scope["match"](spec, iface["name"]) == ncclcheck.parse_ifname_spec(spec).matches(iface["name"]), \
                (spec, iface["name"])


@pytest.mark.parametrize("text,value", [("1Gi", 1 << 30), ("512Mi", 512 << 20), ("2G", 2e9), ("100m", 0.1),
                                        ("1e3", 1000), ("8", 8), ("x", None), ("1Zi", None)])
def test_quantities(text, value):
    assert ncclcheck.parse_quantity(text) == value


def pod(name, *, gpus="8", shm=None, ifname="eth0", host_network=False, rdma=None):
    res = {"limits": {"nvidia.com/gpu": gpus}} if gpus else {}
    if rdma:
        res.setdefault("limits", {})["rdma/hca"] = rdma
    c = {"name": "main", "resources": res, "env": [{"name": "NCCL_SOCKET_IFNAME", "value": ifname}]}
    spec = {"containers": [c], "hostNetwork": host_network}
    if shm is not None:
        c["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
        spec["volumes"] = [{"name": "dshm", **shm}]
    return {"metadata": {"name": name, "labels": {"leaderworkerset.sigs.k8s.io/worker-index": name[-1]}},
            "spec": spec}


def test_shm_checks():
    good = {"emptyDir": {"medium": "Memory"}}
    group = Group(0, [pod("a-0", shm=good), pod("a-0-1"), pod("a-0-2", shm={"emptyDir": {}}),
                      pod("a-0-3", shm={"emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}}),
                      pod("a-0-4", shm={"hostPath": {"path": "/dev/shm"}}), pod("a-0-5", gpus=None)])
    found = {f.pod: f for f in ncclcheck.check_shm(group)}
    assert found["a-0"].status == "PASS"
    assert found["a-0-1"].status == "WARN" and found["a-0-1"].actual == "<none>"
    assert "disk-backed" in found["a-0-2"].message
    assert found["a-0-3"].actual == "512Mi"
    assert found["a-0-4"].actual == "hostPath"
    assert "a-0-5" not in found  # no GPU: no /dev/shm requirement


def test_group_consistency():
    shm = {"emptyDir": {"medium": "Memory"}}
    group = Group(1, [pod("a-1", shm=shm), pod("a-1-1", shm=shm, ifname="ens5"),
                      pod("a-1-2", shm=shm, host_network=True, gpus="4", rdma="1")])
    by_check = {f.check: f for f in ncclcheck.check_group_static(group) if f.check != "shm"}
    assert by_check["ifname"].status == "FAIL" and by_check["ifname"].pod == "a-1-1"
    assert by_check["hostNetwork"].status == "FAIL" and by_check["hostNetwork"].pod == "a-1-2"
    assert by_check["gpus"].status == "WARN" and "nvidia.com/gpu=4" in by_check["gpus"].actual
    assert by_check["rdma"].status == "WARN"


def test_check_info_dns_and_interface():
    p = pod("a-0-1")
    info = {"t": "info", "env": {"NCCL_SOCKET_IFNAME": "^lo,docker"}, "ifaces": IFACES,
            "dns": {"name": "a-0.a.ns", "addrs": ["10.0.0.9"], "ms": 1.2}}
    found = {f.check: f for f in ncclcheck.check_info(0, p, info, "10.0.0.9")}
    assert found["dns"].status == "PASS" and found["interface"].actual == "eth0 10.0.0.5"
    info["dns"] = {"name": "a-0.a.ns", "error": "NXDOMAIN"}
    info["env"]["NCCL_SOCKET_IFNAME"] = "=ens9"
    found = {f.check: f for f in ncclcheck.check_info(0, p, info, "10.0.0.9")}
    assert found["dns"].status == "FAIL" and "NXDOMAIN" in found["dns"].message
    assert found["interface"].status == "FAIL"
    info["dns"] = {"name": "a-0.a.ns", "addrs": ["10.9.9.9"]}
    assert {f.status for f in ncclcheck.check_info(0, p, info, "10.0.0.9") if f.check == "dns"} == {"FAIL"}


def test_parse_probe_output_ignores_noise():
    text = 'motd line\n{"t":"info"}\n{broken\n{"t":"connect","result":"ok"}\n'
    recs = ncclcheck.parse_probe_output(text)
    assert [r["t"] for r in recs] == ["info", "connect"]
    f = ncclcheck.connect_finding(0, "a-0-1", {"label": "a-0", "host": "a-0.a.ns", "port": 5, "result": "timeout",
                                               "error": "no answer in 1s"})
    assert f.status == "FAIL" and "timeout" in f.message
