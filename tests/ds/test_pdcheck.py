"""P/D wiring across a DisaggregatedSet's roles (model/pdcheck), from leader pod specs as vLLM's and SGLang's
disaggregation docs spell the flags: vLLM ``--kv-transfer-config`` (kv_connector, kv_role), SGLang
``--disaggregation-mode``, ``--disaggregation-transfer-backend``, ``--disaggregation-bootstrap-port``."""

from __future__ import annotations

import json

import pytest

from kubectl_lws.model import pdcheck as P


def template(args: list[str], gpus: int = 1) -> dict:
    return {"spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.10", "command": args[:1],
                                     "args": args[1:],
                                     "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}


def vllm(role: str, kv: dict | None, *, model: str = "meta-llama/Llama-3.1-8B", tp: int = 1, gpus: int = 1):
    args = ["vllm", "serve", model, "--tensor-parallel-size", str(tp)]
    if kv is not None:
        args += ["--kv-transfer-config", json.dumps(kv)]
    t = template(args, gpus)
    return P.role_server(role, None, t, t, 1)


def sglang(role: str, mode: str | None, *, backend: str | None = None, port: str | None = None,
           model: str = "deepseek-ai/DeepSeek-V3", tp: int = 8, gpus: int = 8):
    args = ["python3", "-m", "sglang.launch_server", "--model-path", model, "--tp", str(tp)]
    if mode:
        args += ["--disaggregation-mode", mode]
    if backend:
        args += ["--disaggregation-transfer-backend", backend]
    if port:
        args += ["--disaggregation-bootstrap-port", port]
    t = template(args, gpus)
    return P.role_server(role, None, t, t, 1)


def by_check(findings):
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


NIXL_P = {"kv_connector": "NixlConnector", "kv_role": "kv_producer"}
NIXL_D = {"kv_connector": "NixlConnector", "kv_role": "kv_consumer"}


def test_vllm_wired_right():
    found = by_check(P.check([vllm("prefill", NIXL_P), vllm("decode", NIXL_D)]))
    assert [f.status for f in found["kv-connector"]] == ["PASS"]
    assert [f.status for f in found["kv-role"]] == ["PASS", "PASS"]
    assert found["model"][0].status == "PASS" and found["model"][0].actual == "meta-llama/Llama-3.1-8B"
    assert [f.status for f in found["tp-pp"]] == ["PASS", "PASS"]


def test_vllm_kv_both_is_fine_on_both_sides():
    both = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
    found = by_check(P.check([vllm("prefill", both), vllm("decode", both)]))
    assert all(f.status == "PASS" for f in found["kv-role"])


@pytest.mark.parametrize("p_kv, d_kv, check, words", [
    (NIXL_P, None, "kv-transfer", "role decode: --kv-transfer-config is absent"),
    (NIXL_P, {"kv_connector": "P2pNcclConnector", "kv_role": "kv_consumer"}, "kv-connector", "different KV connectors"),
    (NIXL_P, {"kv_connector": "NixlConnector", "kv_role": "kv_producer"}, "kv-role",
     "role decode (decode) has kv_role kv_producer: it never receives a KV cache"),
    ({"kv_connector": "NixlConnector", "kv_role": "kv_consumer"}, NIXL_D, "kv-role",
     "role prefill (prefill) has kv_role kv_consumer: it never sends the KV cache it computes"),
])
def test_vllm_miswired(p_kv, d_kv, check, words):
    found = by_check(P.check([vllm("prefill", p_kv), vllm("decode", d_kv)]))
    fails = [f for f in found[check] if f.status == "FAIL"]
    assert fails and words in fails[0].message


def test_vllm_not_json():
    t = template(["vllm", "serve", "m", "--kv-transfer-config", "{kv_connector: Nixl"])
    bad = P.role_server("decode", None, t, t, 1)
    found = by_check(P.check([vllm("prefill", NIXL_P, model="m"), bad]))
    assert found["kv-transfer"][0].status == "FAIL" and "not JSON" in found["kv-transfer"][0].message


def test_different_models_and_tp_beyond_the_gpus():
    found = by_check(P.check([vllm("prefill", NIXL_P, tp=4, gpus=2), vllm("decode", NIXL_D, model="other")]))
    assert found["model"][0].status == "FAIL" and "different models" in found["model"][0].message
    tp = {f.roles[0]: f for f in found["tp-pp"]}
    assert tp["prefill"].status == "FAIL" and "needs 4 GPUs, a group has 2" in tp["prefill"].message


def test_sglang_wired_right_with_defaults():
    found = by_check(P.check([sglang("prefill", "prefill"), sglang("decode", "decode")]))
    assert [f.status for f in found["disaggregation-mode"]] == ["PASS", "PASS"]
    assert found["transfer-backend"][0].status == "PASS" and found["transfer-backend"][0].actual == "mooncake"
    assert found["bootstrap-port"][0].status == "PASS" and found["bootstrap-port"][0].actual == "8998"
    assert "disaggregation-pair" not in found


@pytest.mark.parametrize("prefill, decode, check, words", [
    (dict(mode="prefill"), dict(mode=None), "disaggregation-mode", "role decode: no --disaggregation-mode"),
    (dict(mode="decode"), dict(mode="decode"), "disaggregation-mode", "the prefill role must run prefill"),
    (dict(mode="prefill", backend="nixl"), dict(mode="decode"), "transfer-backend", "different transfer backends"),
    (dict(mode="prefill", port="9000"), dict(mode="decode", port="8998"), "bootstrap-port",
     "disagree on the bootstrap port"),
])
def test_sglang_miswired(prefill, decode, check, words):
    found = by_check(P.check([sglang("prefill", **prefill), sglang("decode", **decode)]))
    fails = [f for f in found[check] if f.status == "FAIL"]
    assert fails and words in fails[0].message, found[check]


def test_mixed_engines_and_unrecognised_roles():
    found = by_check(P.check([vllm("prefill", NIXL_P), sglang("decode", "decode")]))
    assert found["engine"][0].status == "FAIL"
    t = template(["nginx"])
    found = by_check(P.check([vllm("prefill", NIXL_P), P.role_server("decode", None, t, t, 1)]))
    assert [f.status for f in found["recognise"]] == ["INFO"] and "kv-role" not in found


def test_purpose_from_names():
    assert [P.purpose(n) for n in ("prefill", "pd-prefill", "P", "decode", "decoder", "router")] == \
        ["prefill", "prefill", "prefill", "decode", "decode", None]


def test_a_template_gets_the_env_the_lws_webhook_injects():
    """A role read from its template (no pod of it read): ``$(LWS_GROUP_SIZE)`` is the role's size, as in its pods."""
    t = template(["sh", "-c", "vllm serve m --tensor-parallel-size 1 --pipeline-parallel-size $(LWS_GROUP_SIZE) "
                  "--kv-transfer-config '" + json.dumps(NIXL_D) + "'"])
    decode = P.role_server("decode", None, t, t, 2)
    found = by_check(P.check([vllm("prefill", NIXL_P), decode]))
    assert [(f.status, f.actual) for f in found["tp-pp"]][1] == ("PASS", "1 x 2 = 2")
    assert "LWS_GROUP_SIZE" not in json.dumps(t["spec"]["containers"][0].get("env"))  # the template is not changed
