"""Is prefill/decode serving wired right across a DisaggregatedSet's roles? Static checks from the pod specs.

Each role of a set runs its own engine; disaggregation only works when the roles agree with each other:

* vLLM: every role passes ``--kv-transfer-config`` (JSON) with the same ``kv_connector``; a prefill role is a
  KV producer (``kv_role`` ``kv_producer``, or ``kv_both``) and a decode role a consumer (``kv_consumer`` or
  ``kv_both``) — a decode role that only produces never receives a KV cache;
* SGLang: ``--disaggregation-mode prefill`` on the prefill role, ``decode`` on the decode role, the same
  ``--disaggregation-transfer-backend`` (mooncake by default) on both, and one bootstrap port
  (``--disaggregation-bootstrap-port``, 8998 by default: where the prefill servers listen for decode);
* the same model on every role (a decode server cannot continue another model's KV cache), and one engine;
* per role, TP x PP (x DP) equal to the GPUs of one group of that role (prefill and decode may differ).

What a role's purpose is comes from its name (``prefill``/``decode``, ``p``/``d``), else from its flags.
A role whose leader runs nothing recognised gets one INFO row: nothing to compare. Pure: the commands pass
each role's leader pod (or its template when no pod exists yet), built on the recognition of launches
(``model.launches``) and ``model.cmdline``'s flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from kubectl_lws.model import keys
from kubectl_lws.model import launches as rc
from kubectl_lws.model.cmdline import first_flag

PREFILL, DECODE = "prefill", "decode"
SGLANG_DEFAULT_BACKEND = "mooncake"
SGLANG_DEFAULT_BOOTSTRAP_PORT = "8998"
_PRODUCES = {"kv_producer", "kv_both"}
_CONSUMES = {"kv_consumer", "kv_both"}


@dataclass
class PdFinding:
    """One cross-role check: ``roles`` it is about, the flag, what was expected and found."""

    check: str
    status: str
    message: str
    roles: tuple[str, ...] = ()
    flag: str = ""
    expected: str | None = None
    actual: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "status": self.status, "message": self.message,
                               "roles": list(self.roles)}
        if self.flag:
            out["flag"] = self.flag
        if self.expected is not None:
            out["expected"] = self.expected
        if self.actual is not None:
            out["actual"] = self.actual
        return out


@dataclass
class RoleServer:
    """What one role's leader runs, as the checks see it."""

    role: str
    pod: str                      # the leader pod read, or "<template>"
    launch: rc.Launch | None      # the vLLM or SGLang launch, None when not recognised
    group_gpus: float             # accelerators of one group of the role
    per_pod: str                  # "8 per pod x 2 pods" for messages

    @property
    def engine(self) -> str:
        return self.launch.kind if self.launch is not None else ""


def role_server(role: str, leader_pod: dict | None, leader_template: dict, worker_template: dict,
                size: int) -> RoleServer:
    """A role's server from its leader pod, or from its templates when no pod exists yet (as the LWS webhook
    makes the leader: its size and worker index injected, so ``$(LWS_GROUP_SIZE)`` in a command evaluates)."""
    pod = leader_pod or {"metadata": {"name": "<template>", "labels": {}},
                         "spec": _as_leader(leader_template.get("spec") or {}, size)}
    stack = rc.pod_stack(pod)
    launch = stack.find("vllm", "sglang")
    leader_gpus = rc.pod_gpus(leader_pod or leader_template)
    worker_gpus = rc.pod_gpus(worker_template) if size > 1 else 0.0
    total = leader_gpus + worker_gpus * (size - 1)
    per_pod = f"{_fmt(leader_gpus)} per pod x {size} pod{'s' if size != 1 else ''}" if \
        (size == 1 or leader_gpus == worker_gpus) else f"leader {_fmt(leader_gpus)} + {size - 1} x {_fmt(worker_gpus)}"
    return RoleServer(role, stack.name, launch, total, per_pod)


def _as_leader(spec: dict, size: int) -> dict:
    """A template's pod spec with the env the LWS webhook injects into a leader (group size, worker index 0)."""
    injected = [{"name": keys.ENV_GROUP_SIZE, "value": str(size)}, {"name": keys.ENV_WORKER_INDEX, "value": "0"}]
    containers = [{**c, "env": injected + [e for e in c.get("env") or []
                                           if e.get("name") not in (keys.ENV_GROUP_SIZE, keys.ENV_WORKER_INDEX)]}
                  for c in spec.get("containers") or []]
    return {**spec, "containers": containers}


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def purpose(role: str) -> str | None:
    """``prefill``, ``decode`` or None from a role's name."""
    name = role.lower()
    if "prefill" in name or name in ("p", "prefiller"):
        return PREFILL
    if "decode" in name or name in ("d", "decoder"):
        return DECODE
    return None


def _value(server: RoleServer, *names: str) -> tuple[str | None, str]:
    """(value or None when absent, flag spelling)."""
    flag = first_flag(server.launch.flags, *names) if server.launch else None
    if flag is None:
        return None, f"--{names[0]}"
    return flag.value, flag.name


def kv_transfer_config(server: RoleServer) -> tuple[dict | None, str | None]:
    """vLLM's ``--kv-transfer-config`` as a dict, or (None, why) when absent or not JSON."""
    text, _ = _value(server, "kv-transfer-config")
    if text is None:
        return None, "absent"
    try:
        value = json.loads(text)
    except ValueError:
        return None, f"not JSON: {text[:60]}"
    return (value, None) if isinstance(value, dict) else (None, f"not a JSON object: {text[:60]}")


def check(servers: Sequence[RoleServer]) -> list[PdFinding]:
    """Every cross-role check, in report order."""
    out: list[PdFinding] = []
    known = [s for s in servers if s.launch is not None]
    for s in servers:
        if s.launch is None:
            out.append(PdFinding("recognise", rc.INFO, f"role {s.role}: the leader runs no recognised vLLM or SGLang "
                                 "server: its P/D wiring is not checked", (s.role,), "command"))
    if len(known) < 2:
        return out
    engines = sorted({s.engine for s in known})
    if len(engines) > 1:
        out.append(PdFinding("engine", rc.FAIL, "the roles run different engines ("
                             + ", ".join(f"{s.role} {s.engine}" for s in known) + "): a KV cache cannot move "
                             "between them", tuple(s.role for s in known), expected="one engine on every role",
                             actual=", ".join(engines)))
        return out
    out += _same_model(known)
    if engines[0] == "vllm":
        out += _vllm(known)
    else:
        out += _sglang(known)
    out += [_world(s) for s in known]
    return out


def _same_model(servers: Sequence[RoleServer]) -> list[PdFinding]:
    models = {s.role: _model(s) for s in servers}
    roles = tuple(models)
    if any(m is None for m in models.values()):
        missing = [r for r, m in models.items() if m is None]
        return [PdFinding("model", rc.WARN, f"cannot compare the models: no model flag on {', '.join(missing)}",
                          roles, "--model", actual=_pairs(models))]
    return [_same("model", models, "--model", "the roles serve different models: decode cannot continue another "
                  "model's KV cache", "the same model on every role", "every role serves {}")]


def _same(check: str, values: dict[str, Any], flag: str, differ: str, expected: str, agree: str) -> PdFinding:
    """FAIL ``differ`` when the roles disagree (or one has none), else PASS ``agree`` with the shared value."""
    if len(set(values.values())) > 1 or None in values.values():
        return PdFinding(check, rc.FAIL, differ, tuple(values), flag, expected=expected, actual=_pairs(values))
    value = next(iter(values.values()))
    return PdFinding(check, rc.PASS, agree.format(value), tuple(values), flag, actual=value)


def _model(s: RoleServer) -> str | None:
    """The model a server loads (``--model``/``--model-path``, or ``vllm serve MODEL``); not the served name."""
    flag = first_flag(s.launch.flags, "model", "model-path") if s.launch else None
    if flag is not None and flag.value:
        return flag.value
    if s.launch is not None and s.launch.kind == "vllm":
        pos = [w for w in s.launch.positional if w.value != "serve"]
        return pos[0].value if pos else None
    return None


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {'<unset>' if v is None else v}" for k, v in values.items())


def _vllm(servers: Sequence[RoleServer]) -> list[PdFinding]:
    out: list[PdFinding] = []
    configs: dict[str, dict] = {}
    for s in servers:
        cfg, why = kv_transfer_config(s)
        if cfg is None:
            out.append(PdFinding("kv-transfer", rc.FAIL, f"role {s.role}: --kv-transfer-config is {why}: without a KV "
                                 "connector the roles share no KV cache and every request is prefilled again on "
                                 "decode", (s.role,), "--kv-transfer-config",
                                 expected='{"kv_connector": ..., "kv_role": ...}', actual=why))
        else:
            configs[s.role] = cfg
    if len(configs) < 2:
        return out
    connectors = {r: c.get("kv_connector") for r, c in configs.items()}
    out.append(_same("kv-connector", connectors, "--kv-transfer-config kv_connector", "the roles use different KV "
                     "connectors: they cannot hand the KV cache over", "the same kv_connector on every role",
                     "every role uses {}"))
    for role, cfg in configs.items():
        want = purpose(role) or _vllm_purpose(cfg)
        kv_role = cfg.get("kv_role")
        if want is None:
            out.append(PdFinding("kv-role", rc.INFO, f"role {role}: kv_role {kv_role}; its name says neither prefill "
                                 "nor decode, so its direction is not checked", (role,), "--kv-transfer-config kv_role",
                                 actual=str(kv_role)))
            continue
        ok = _PRODUCES if want == PREFILL else _CONSUMES
        expected = "kv_producer or kv_both" if want == PREFILL else "kv_consumer or kv_both"
        if kv_role in ok:
            out.append(PdFinding("kv-role", rc.PASS, f"role {role} ({want}) is a KV "
                                 f"{'producer' if want == PREFILL else 'consumer'} ({kv_role})", (role,),
                                 "--kv-transfer-config kv_role", expected=expected, actual=str(kv_role)))
        else:
            what = "never sends the KV cache it computes" if want == PREFILL else "never receives a KV cache"
            out.append(PdFinding("kv-role", rc.FAIL, f"role {role} ({want}) has kv_role {kv_role}: it {what}", (role,),
                                 "--kv-transfer-config kv_role", expected=expected, actual=str(kv_role)))
    return out


def _vllm_purpose(cfg: dict) -> str | None:
    return {"kv_producer": PREFILL, "kv_consumer": DECODE}.get(cfg.get("kv_role", ""))


def _sglang(servers: Sequence[RoleServer]) -> list[PdFinding]:
    out: list[PdFinding] = []
    for s in servers:
        mode, spelled = _value(s, "disaggregation-mode")
        want = purpose(s.role) or (mode if mode in (PREFILL, DECODE) else None)
        if mode in (None, "null"):
            out.append(PdFinding("disaggregation-mode", rc.FAIL, f"role {s.role}: no --disaggregation-mode: the server "
                                 "runs prefill and decode itself and takes part in no disaggregation", (s.role,),
                                 spelled, expected=want or "prefill | decode", actual=mode or "<unset>"))
        elif want is not None and mode != want:
            out.append(PdFinding("disaggregation-mode", rc.FAIL, f"role {s.role} runs --disaggregation-mode {mode}: "
                                 f"the {want} role must run {want}", (s.role,), spelled, expected=want, actual=mode))
        else:
            out.append(PdFinding("disaggregation-mode", rc.PASS, f"role {s.role}: --disaggregation-mode {mode}",
                                 (s.role,), spelled, expected=want or mode, actual=mode))
    modes = {s.role: _value(s, "disaggregation-mode")[0] for s in servers}
    if PREFILL not in modes.values() or DECODE not in modes.values():
        out.append(PdFinding("disaggregation-pair", rc.FAIL, "no role prefills" if PREFILL not in modes.values()
                             else "no role decodes", tuple(modes), "--disaggregation-mode",
                             expected="one prefill role and one decode role", actual=_pairs(modes)))
    backends = {s.role: _value(s, "disaggregation-transfer-backend")[0] or SGLANG_DEFAULT_BACKEND for s in servers}
    out.append(_same("transfer-backend", backends, "--disaggregation-transfer-backend", "the roles use different "
                     "transfer backends: the KV cache cannot move", "the same backend on every role",
                     "every role uses {}"))
    ports = {s.role: _value(s, "disaggregation-bootstrap-port")[0] or SGLANG_DEFAULT_BOOTSTRAP_PORT for s in servers}
    out.append(_same("bootstrap-port", ports, "--disaggregation-bootstrap-port", "the roles disagree on the bootstrap "
                     "port: decode looks for the prefill servers' bootstrap where they do not listen",
                     "one port on every role", "bootstrap port {} on every role"))
    return out


def _world(s: RoleServer) -> PdFinding:
    """TP x PP (x DP) of a role against the GPUs of one of its groups."""
    names = {"tp": ("tensor-parallel-size", "tp-size", "tp"), "pp": ("pipeline-parallel-size", "pp-size", "pp")}
    if s.engine == "vllm":
        names["dp"] = ("data-parallel-size", "dp")
    parts, need = [], 1
    for key, spellings in names.items():
        value, spelled = _value(s, *spellings)
        try:
            n = int(value) if value is not None else 1
        except ValueError:
            return PdFinding("tp-pp", rc.WARN, f"role {s.role}: cannot evaluate {spelled} '{value}'", (s.role,), spelled,
                             actual=str(value))
        need *= n
        if key != "dp" or n != 1:
            parts.append(str(n))
    actual = " x ".join(parts) + f" = {need}"
    expected = f"{_fmt(s.group_gpus)} ({s.per_pod})"
    flag = "--tensor-parallel-size x --pipeline-parallel-size"
    if s.group_gpus == 0:
        return PdFinding("tp-pp", rc.WARN, f"role {s.role}: no GPUs requested: cannot compare", (s.role,), flag,
                         expected="resources.limits with accelerators", actual=actual)
    if need != s.group_gpus:
        status = rc.FAIL if need > s.group_gpus else rc.WARN
        what = "waits for GPUs its groups do not have" if need > s.group_gpus else "leaves GPUs of its groups idle"
        return PdFinding("tp-pp", status, f"role {s.role}: needs {need} GPUs, a group has {_fmt(s.group_gpus)}: it {what}",
                         (s.role,), flag, expected=expected, actual=actual)
    return PdFinding("tp-pp", rc.PASS, f"role {s.role}: {actual} GPUs = {s.per_pod}", (s.role,), flag,
                     expected=expected, actual=actual)
