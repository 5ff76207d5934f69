"""The static shell-subset evaluator (kubectl_lws.model.shell): the kubelet's $(VAR) first, then the shell's
expansions, per pod; what cannot be evaluated names the whole expression; hostile scripts stay bounded."""
from __future__ import annotations

import time
import tracemalloc

import pytest

from kubectl_lws.model import cmdline, shell

ENV = {"LWS_WORKER_INDEX": "1", "LWS_GROUP_SIZE": "2", "LWS_LEADER_ADDRESS": "x-0.x.ns", "DP_SIZE_LOCAL": "8",
       "TP_SIZE": "1", "SECRET": None}


def run(text: str, env: dict | None = None, **kw) -> shell.Script:
    return shell.run(text, ENV if env is None else env, **kw)


def values(script: shell.Script) -> list[list[str]]:
    return [[w.value for w in cmd] for cmd in script.commands]


def test_llm_d_shaped_script_evaluates_per_pod():
    script = """#################
# decode worker
#################
find /dev/shm -type f -delete
START_RANK=$(( ${LWS_WORKER_INDEX:-0} * DP_SIZE_LOCAL ))

exec vllm serve \\
  org/model \\
  --tensor-parallel-size $TP_SIZE \\
  --data-parallel-size $((LWS_GROUP_SIZE * DP_SIZE_LOCAL)) \\
  --data-parallel-address ${LWS_LEADER_ADDRESS} \\
  --data-parallel-start-rank $START_RANK \\
  --kv_transfer_config '{"kv_connector":"NixlConnector",
                         "kv_role":"kv_both"}'
echo never runs after exec
"""
    result = run(script)
    assert values(result)[0] == ["find", "/dev/shm", "-type", "f", "-delete"]
    [_, cmd] = result.commands
    assert [w.value for w in cmd][:9] == ["exec", "vllm", "serve", "org/model", "--tensor-parallel-size", "1",
                                          "--data-parallel-size", "16", "--data-parallel-address"]
    assert cmd[10].value == "--data-parallel-start-rank" and cmd[11].value == "8" and cmd[11].raw == "$START_RANK"
    assert cmd[7].raw == "$((LWS_GROUP_SIZE * DP_SIZE_LOCAL))"
    assert cmd[-1].value == '{"kv_connector":"NixlConnector",\n                         "kv_role":"kv_both"}'
    leader = run(script, {**ENV, "LWS_WORKER_INDEX": "0"})
    assert leader.commands[1][11].value == "0"


def test_kubelet_expansion_comes_first_with_its_own_rules():
    # $(VAR) is the kubelet's (even inside single quotes), $$ is a literal $, an unknown $(X) stays as written
    [cmd] = run("exec a '$(LWS_LEADER_ADDRESS)' $$HOME $(( LWS_GROUP_SIZE + 1 )) $(LWS_GROUP_SIZE)x").commands
    assert [w.value for w in cmd] == ["exec", "a", "x-0.x.ns", "$HOME", "3", "2x"]
    assert cmd[2].raw == "'$(LWS_LEADER_ADDRESS)'" and cmd[5].raw == "$(LWS_GROUP_SIZE)x"
    assert cmd[3].unresolved and "HOME is not set in the pod spec" in cmd[3].why
    [cmd] = run("exec a $(NOT_IN_ENV)").commands
    assert cmd[2].unresolved and "no variable NOT_IN_ENV in the container's env" in cmd[2].why
    # a value holding shell syntax is lexed by the shell, as in a pod
    [cmd] = run("exec a $(ARGS)", {"ARGS": "--x 1 '--y z'"}).commands
    assert [w.value for w in cmd] == ["exec", "a", "--x", "1", "--y z"]
    assert shell.kubelet_expand("$(A)$$(B)$(C", {"A": "1"}) == ("1$(B)$(C", False)


def test_parameter_forms_and_arithmetic():
    env = {"A": "7", "E": ""}
    text = ("X=${E:-d1} Y=${U3-d2} W=${E-d3} Z=${U:=set} ; exec p $X $Y \"$W\" $Z $U ${A:+alt} ${U2:+alt} ${#A} "
            "$((A*2+1)) $(( (A+1) % 3 )) $((07)) $((0x1F)) $((-A/2)) $((2**10))")
    [cmd] = run(text, env).commands
    assert [w.value for w in cmd] == ["exec", "p", "d1", "d2", "", "set", "set", "alt", "1", "15", "2", "7", "31", "-3",
                                      "1024"]
    [cmd] = run("exec p $((9223372036854775807 + 1))", {}).commands  # 64-bit, as bash
    assert cmd[2].value == "-9223372036854775808"
    [cmd] = run("exec p $((1/0)) $((08))", {}).commands
    assert cmd[2].unresolved and "division by 0" in cmd[2].why
    assert cmd[3].unresolved and "08" in cmd[3].why


def test_what_cannot_be_evaluated_names_the_whole_expression():
    [cmd] = run('M=$(python3 -c "print(0.9)"); exec vllm serve --gpu-memory-utilization $M '
                "--x $((LWS_GROUP_SIZE * SECRET)) --y `id` --z ${A%b}").commands
    m, x, y, z = cmd[4], cmd[6], cmd[8], cmd[10]
    assert m.unresolved and m.value == "$M" and 'M=$(python3 -c "print(0.9)")' not in m.why
    assert "command substitution runs a program" in m.why and '$(python3 -c "print(0.9)")' in m.why
    assert x.value == "$((LWS_GROUP_SIZE * SECRET))" and "SECRET has no value in the spec" in x.why
    assert x.why.startswith("$((LWS_GROUP_SIZE * SECRET))")
    assert "`id`" in y.why and "not evaluated" in z.why
    flags, _ = cmdline.parse_flags(cmd[3:])
    assert flags["x"].unresolved and flags["x"].why == x.why


def test_conditions_select_branches_or_mark_them_maybe():
    text = """
if [ "${LWS_WORKER_INDEX:-0}" -eq 0 ]; then
  ROLE=leader
elif [[ $LWS_GROUP_SIZE -gt 1 && -n "$TP_SIZE" ]]; then
  ROLE=worker
else
  ROLE=single
fi
[ -f /etc/extra ] && EXTRA=1
(( LWS_GROUP_SIZE > 1 )) || exec never
exec vllm serve --role $ROLE --extra $EXTRA
"""
    [cmd] = run(text).commands
    assert cmd[4].value == "worker"
    assert cmd[6].unresolved and "EXTRA is set under the command before &&" in cmd[6].why
    result = run("if [ -d /models ]; then exec vllm serve a; else exec vllm serve b; fi")
    assert [c.cond for c in result.commands] == ["if [ -d /models ]", "if [ -d /models ]"]
    result = run("for i in 1 2; do exec vllm serve $i; done")
    assert result.commands[0].cond.startswith("for i in 1 2")


def test_positional_parameters_of_sh_c():
    c = {"command": ["/bin/sh", "-c", 'exec "$@"', "--", "vllm", "serve", "m", "--tensor-parallel-size",
                     "$(LWS_GROUP_SIZE)"]}
    [cmd] = cmdline.container_commands(c, dict(ENV))
    assert [w.value for w in cmd] == ["vllm", "serve", "m", "--tensor-parallel-size", "2"]  # exec stripped


def test_functions_eval_heredocs_redirections_and_pipes():
    text = """cat <<EOF > /tmp/cfg
exec not-a-command
EOF
start() { exec vllm serve --port $1 2>&1; }
eval 'PORT=8200'
start $PORT | tee /tmp/log"""
    assert values(run(text))[-2:] == [["exec", "vllm", "serve", "--port", "8200"], ["tee", "/tmp/log"]]


def test_container_env_resolves_field_refs_from_the_pod():
    pod = {"metadata": {"name": "x-0-1", "namespace": "ns", "labels": {"leaderworkerset.sigs.k8s.io/worker-index": "1"},
                        "annotations": {"leaderworkerset.sigs.k8s.io/size": "2"}},
           "status": {"podIP": "10.0.0.9"}}
    c = {"env": [{"name": "RANK", "valueFrom": {"fieldRef": {"fieldPath":
                                                             "metadata.labels['leaderworkerset.sigs.k8s.io/worker-index']"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
                 {"name": "URL", "value": "http://$(IP):$(RANK)"}, {"name": "BAD", "value": "$(TOKEN)x"}]}
    env, whys = cmdline.container_env(c, pod)
    assert env == {"RANK": "1", "IP": "10.0.0.9", "TOKEN": None, "URL": "http://10.0.0.9:1", "BAD": None}
    assert whys["TOKEN"] == "TOKEN comes from secretKeyRef hf/token"
    env, _ = cmdline.container_env(c)  # a template: no pod, no fieldRef values
    assert env["RANK"] is None


def test_syntax_errors_stop_where_the_shell_would():
    result = run("exec-before ok\necho 'unterminated\nexec vllm serve")
    assert values(result) == [["exec-before", "ok"]]
    assert "unterminated single quote" in result.error and "line 2" in result.error


# ---- hostile input: bounded in time and memory ----------------------------------------------------------

def bounded(text: str, env: dict | None = None, *, seconds: float = 5.0, megabytes: float = 64.0) -> shell.Script:
    """Evaluate under tracemalloc; fail if it takes or allocates far more than a linear pass would."""
    shell.parse.cache_clear()
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = shell.run(text, ENV if env is None else env)
    finally:
        took = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert took < seconds, f"{took:.1f}s"
    assert peak < megabytes * 2 ** 20, f"{peak / 2 ** 20:.0f} MiB"
    return result


SIZE = 45 * 1024


def test_hostile_deep_nesting_of_every_kind():
    for opener, closer in (("${A:-", "}"), ("$(", ")"), ("$((", "))"), ("(", ")"), ("{ ", "; }"),
                           ("if true; then ", "; fi"), ('"$(echo ', ')"')):
        depth = SIZE // (len(opener) + len(closer))
        result = bounded(opener * depth + "x" + closer * depth)
        if opener != "(":  # ((((x)))) is one (valid) arithmetic command: its value is unknown, not an error
            assert "nested deeper than" in result.error or "syntax error" in result.error, (opener, result.error)
    result = bounded("exec a $((" + "(" * SIZE + "1" + ")" * SIZE + "))")
    assert result.error or result.commands[0][2].unresolved


def test_hostile_unbalanced_quotes_and_unterminated_constructs():
    for text in ("'" + "a" * SIZE, '"' + "a " * (SIZE // 2), "echo " + "'x" * (SIZE // 2), "$(" * (SIZE // 2),
                 "${" * (SIZE // 2), "`" + "x" * SIZE, "$((" + "1+" * (SIZE // 2), "cat <<EOF\n" + "x\n" * (SIZE // 2)):
        result = bounded(text)
        assert result.error or not result.commands or all(isinstance(c, list) for c in result.commands)


def test_hostile_growth_and_long_scripts():
    # each line doubles A: capped at MAX_VALUE, the word becomes unknown instead of 2^6000 characters
    result = bounded("A=xxxxxxxxxxxxxxxx\n" + "A=$A$A\n" * (SIZE // 7) + "exec a $A")
    assert result.commands[-1][2].unresolved and "grows beyond" in result.commands[-1][2].why
    result = bounded("exec a " + " ".join(["$LWS_GROUP_SIZE"] * (SIZE // 16)))
    assert len(result.commands[0]) == 2 + SIZE // 16
    result = bounded("exec a $((" + "+".join(["LWS_GROUP_SIZE"] * (SIZE // 15)) + "))")
    assert result.commands[0][2].value == str(2 * (SIZE // 15))
    result = bounded(("echo " + "word " * 200 + "\n") * (SIZE // 1000))
    assert len(result.commands) == SIZE // 1000


def test_hostile_recursion_and_loops_end():
    result = bounded("f() { f; f; }; f; exec after")
    assert values(result)[-1] == ["exec", "after"]
    result = bounded("X='eval \"$X\"'; eval \"$X\"; exec after")
    assert values(result)[-1] == ["exec", "after"]
    result = bounded("while true; do A=$A$A$A; done; exec after")
    assert values(result)[-1] == ["exec", "after"]
    result = bounded("X=1; " + "X=$((X*3)); " * (SIZE // 12) + "exec a $X")
    assert result.commands and result.commands[-1][2].value.lstrip("-").isdigit()  # wraps, no bignum


def test_hostile_budget_is_reported_not_hung():
    big = "x" * 60000
    text = "; ".join(f"exec{i} $B $B $B $B" for i in range(3000))
    result = bounded(text, {"B": big}, megabytes=96)
    assert "steps" in result.error or len(result.commands) == 3000


@pytest.mark.parametrize("text", ["exec a\\", "exec a |", "exec a &&", "if", "case x in", "f() {", "((", "$'", "<<"])
def test_truncated_scripts_do_not_raise(text):
    bounded(text)
