"""The fixed programs ``verify runtime --live`` runs inside the leader, and the argv that carries them.

Same rules as ``kubectl_lws.probe``: no shell, nothing a user typed becomes program text (the port
and paths travel as one JSON argv item / positional arguments), python3 first, bash as the fallback.
Each program prints one JSON line per HTTP path: ``{"t": "http", "path", "status", "ms", "body" | "ids",
"error"}``. ``ray`` itself is run directly with a fixed argv (``ray list nodes --format=json``, then
``ray status``).
"""

from __future__ import annotations

import json
from typing import Any

from kubectl_lws.probe import MARKER, _packed

RAY_LIST = ["ray", "list", "nodes", "--format=json"]
RAY_STATUS = ["ray", "status"]

PYTHON_HTTP = r'''
import json, signal, socket, sys, time, urllib.request, urllib.error
P = json.loads(sys.argv[2])
signal.alarm(max(1, int(P.get("lifetime", 30))))
for path in P["paths"]:
    url = "http://%s:%d%s" % (P["host"], int(P["port"]), path)
    rec = {"t": "http", "path": path}
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "kubectl-lws"}), timeout=float(P.get("timeout", 5))) as r:
            rec["status"] = r.status
            rec["body"] = r.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        rec["status"] = e.code
        try:
            rec["body"] = e.read(4096).decode("utf-8", "replace")
        except Exception:
            pass
    except urllib.error.URLError as e:
        reason = e.reason
        rec["error"] = "connection refused" if isinstance(reason, ConnectionRefusedError) else ("timeout" if isinstance(reason, socket.timeout) else str(reason))
    except socket.timeout:
        rec["error"] = "timeout"
    except Exception as e:
        rec["error"] = "%s: %s" % (type(e).__name__, e)
    rec["ms"] = (time.monotonic() - t0) * 1000
    sys.stdout.write(json.dumps(rec) + "\n"); sys.stdout.flush()
'''

# bash: /dev/tcp, HTTP/1.0, read with a timeout; the model ids are picked from the body with a regex.
BASH_HTTP = r'''
set +e
host=$1; port=$2; tmo=$3; shift 3
esc() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '%s' "${s//$'\n'/ }"; }
ms() { if [ -n "$1" ] && [ -n "$2" ]; then local a=${1/[.,]/} b=${2/[.,]/}; echo $(( (10#$b - 10#$a) / 1000 )); else echo null; fi; }
for path in "$@"; do
  t0=$EPOCHREALTIME
  if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
    err=$( { exec 4<>"/dev/tcp/$host/$port"; } 2>&1 )  # failed: once more in a subshell, for the reason
    case "$err" in *refused*) e="connection refused";; "") e="connection failed";; *) e="${err##*: }";; esac
    printf '{"t":"http","path":"%s","error":"%s","ms":%s}\n' "$(esc "$path")" "$(esc "$e")" "$(ms "$t0" "$EPOCHREALTIME")"
    continue
  fi
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: kubectl-lws\r\n\r\n' "$path" "$host" >&3
  if ! IFS= read -r -t "$tmo" line <&3; then
    printf '{"t":"http","path":"%s","error":"timeout","ms":%s}\n' "$(esc "$path")" "$(ms "$t0" "$EPOCHREALTIME")"
    exec 3<&-; continue
  fi
  code=$(printf '%s' "$line" | { read -r _ c _; echo "$c"; })
  body=""; while IFS= read -r -t "$tmo" l <&3; do body+="$l"; done; body+="$l"
  exec 3<&-
  ids=""; rest=$body
  # model cards only ("id" then "object": "model"), not their permission entries
  while [[ $rest =~ \"id\"[[:space:]]*:[[:space:]]*\"([^\"]*)\"[[:space:]]*,[[:space:]]*\"object\"[[:space:]]*:[[:space:]]*\"model\"(.*) ]]; do ids+="${ids:+,}\"$(esc "${BASH_REMATCH[1]}")\""; rest=${BASH_REMATCH[2]}; done
  printf '{"t":"http","path":"%s","status":%s,"ids":[%s],"ms":%s}\n' "$(esc "$path")" "${code:-null}" "$ids" "$(ms "$t0" "$EPOCHREALTIME")"
done
'''


def http_argvs(host: str, port: int, paths: list[str], timeout: float) -> list[tuple[str, list[str]]]:
    """Candidates, best first: python3 (urllib), then bash (/dev/tcp)."""
    params: dict[str, Any] = {"host": host, "port": int(port), "paths": paths, "timeout": timeout,
                              "lifetime": int(timeout * len(paths) + 5)}
    return [("python3", ["python3", "-I", "-S", "-c", _packed(PYTHON_HTTP), MARKER,
                         json.dumps(params, separators=(",", ":"))]),
            ("bash", ["bash", "-c", BASH_HTTP, MARKER, host, str(int(port)), str(max(1, int(timeout))), *paths])]


def parse_http_output(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("t") == "http":
                if "ids" in rec and "body" not in rec:
                    rec["body"] = json.dumps({"data": [{"id": i} for i in rec["ids"]]})
                out.append(rec)
    return out
