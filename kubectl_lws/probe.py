"""The fixed programs ``verify`` runs inside containers, and the argv that carries them.

Why fixed programs: exec has no shell in between, and nothing a user types (names, ports, prefixes)
is ever pasted into code; parameters travel as a separate argv item (JSON) that the program parses.
Every probe arms ``alarm()`` with a hard lifetime, so a listener dies on its own even when the
exec stream is dropped (Ctrl-C, a lost connection, a kubelet that keeps orphaned exec processes).

Records are printed as JSON lines: ``info`` (env, interfaces, DNS, NCCL interface), ``listening``,
``connect`` (one per target), ``accepted`` (the listener's summary) and ``error``.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

MARKER = "kubectl-lws-probe"

# python3 -I -S: no user site, no site-packages, no PYTHON* env: fast start, nothing from the image runs.
PYTHON_PROBE = r'''
import json, os, signal, socket, struct, sys, threading, time
P = json.loads(sys.argv[2])
signal.alarm(max(1, int(P.get("lifetime", 30)) + 1))
LOCK = threading.Lock()
def out(rec):
    with LOCK:
        sys.stdout.write(json.dumps(rec) + "\n"); sys.stdout.flush()
def ifaces():
    res = []
    try:
        names = [n for _, n in socket.if_nameindex()]
    except OSError:
        names = sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else []
    try:
        import fcntl
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except Exception:
        fcntl = None
    for n in names:
        addrs, up = [], None
        if fcntl is not None:
            req = struct.pack("256s", n.encode()[:15])
            try:
                addrs.append(socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24]))
            except OSError:
                pass
            try:
                up = bool(struct.unpack("H", fcntl.ioctl(s.fileno(), 0x8913, req)[16:18])[0] & 1)
            except OSError:
                pass
        res.append({"name": n, "addrs": addrs, "up": up})
    return res
def match(spec, name):
    spec = spec.strip(); ex = spec.startswith("^"); spec = spec[1:] if ex else spec
    exact = spec.startswith("="); spec = spec[1:] if exact else spec
    pre = [p.split(":", 1)[0].strip() for p in spec.split(",") if p.split(":", 1)[0].strip()]
    hit = any(name == p if exact else name.startswith(p) for p in pre)
    return not hit if ex else hit
def nccl_iface(ifs, spec):
    usable = [i for i in ifs if i["addrs"]]
    if spec:
        return [i for i in usable if match(spec, i["name"])]
    ib = [i for i in usable if i["name"].startswith("ib")]
    return ib or [i for i in usable if match("^docker,lo,virbr", i["name"])]
def resolve(name, timeout):
    box = {}
    def run():
        try:
            box["a"] = sorted({a[4][0] for a in socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)})
        except socket.gaierror as e:
            box["e"] = "NXDOMAIN" if e.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)) else "%s" % (e.strerror or e)
        except Exception as e:
            box["e"] = str(e)
    t0 = time.monotonic(); th = threading.Thread(target=run, daemon=True); th.start(); th.join(timeout)
    ms = (time.monotonic() - t0) * 1000
    if th.is_alive():
        return {"name": name, "error": "timeout", "ms": ms}
    if "e" in box:
        return {"name": name, "error": box["e"], "ms": ms}
    return {"name": name, "addrs": box["a"], "ms": ms}
def connect(label, host, port, timeout, nonce):
    rec = {"t": "connect", "label": label, "host": host, "port": port}
    t0 = time.monotonic()
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as e:
        rec.update(result="dns error", error=e.strerror or str(e)); return rec
    infos.sort(key=lambda i: i[0] != socket.AF_INET)  # IPv4 first, like NCCL's default
    addr = infos[0][4]; rec["addr"] = addr[0]
    s = socket.socket(infos[0][0], socket.SOCK_STREAM); s.settimeout(timeout)
    try:
        t0 = time.monotonic(); s.connect(addr); rec["ms"] = (time.monotonic() - t0) * 1000
        rec["result"] = "ok"; rec["local"] = s.getsockname()[0]
        try:
            s.sendall(("%s %s %s\n" % ("kubectl-lws", nonce, P.get("me") or label)).encode())
        except OSError:
            pass
    except socket.timeout:
        rec.update(result="timeout", error="no answer in %gs" % timeout)
    except ConnectionRefusedError:
        rec.update(result="refused", error="connection refused")
    except OSError as e:
        rec.update(result="no route" if e.errno in (101, 113) else "error", error=e.strerror or str(e))
    finally:
        s.close()
    return rec
env = {k: os.environ.get(k) for k in ("LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX", "NCCL_SOCKET_IFNAME", "HOSTNAME")}
ifs = ifaces()
sel = nccl_iface(ifs, env["NCCL_SOCKET_IFNAME"])
target = env["LWS_LEADER_ADDRESS"] or P.get("leader")
info = {"t": "info", "tool": "python3", "env": env, "ifaces": ifs,
        "nccl": {"iface": sel[0]["name"], "addr": sel[0]["addrs"][0]} if sel else None}
if target and P.get("dns", True):
    info["dns"] = resolve(target, float(P.get("dns_timeout", 3)))
out(info)
mode = P.get("mode", "info")
srv = None
if mode in ("listen", "mesh"):
    bind = sel[0]["addrs"][0] if (sel and env["NCCL_SOCKET_IFNAME"]) else "0.0.0.0"
    try:
        try:  # all addresses, IPv6 too when the pod has it (dual-stack socket), else IPv4 only
            if bind != "0.0.0.0" or not socket.has_ipv6:
                raise OSError("ipv4")
            srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("::", int(P.get("port", 0))))
        except OSError:
            srv = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((bind, int(P.get("port", 0))))
        srv.listen(128)
        out({"t": "listening", "addr": bind, "port": srv.getsockname()[1]})
    except OSError as e:
        out({"t": "error", "stage": "listen", "error": "cannot listen on %s:%s: %s" % (bind, P.get("port", 0), e.strerror or e)})
        srv = None
peers = []
stop = threading.Event()
def wait_done():
    sys.stdin.readline()
    stop.set()
def serve(expect, deadline):
    while srv is not None and len({p["label"] for p in peers}) < expect and not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        srv.settimeout(min(left, 0.5))
        try:
            c, a = srv.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        c.settimeout(1.0); data = b""
        try:
            while not data.endswith(b"\n") and len(data) < 256:
                chunk = c.recv(256)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        c.close()
        parts = data.decode("utf-8", "replace").split()
        if len(parts) >= 2 and parts[0] == "kubectl-lws" and parts[1] == P.get("nonce"):
            peers.append({"peer": a[0].replace("::ffff:", "", 1), "nonce": parts[1], "label": parts[2] if len(parts) > 2 else ""})
deadline = time.monotonic() + float(P.get("lifetime", 30))
th = None
if srv is not None:
    th = threading.Thread(target=serve, args=(int(P.get("expect", 0)), deadline), daemon=True); th.start()
targets = P.get("targets") or []
if mode == "mesh":
    line = sys.stdin.readline()
    try:
        targets = json.loads(line) if line.strip() else []
    except ValueError:
        targets = []
if srv is not None and P.get("stdin"):
    # the caller writes one more line once every peer has connected or given up: stop waiting then
    threading.Thread(target=wait_done, daemon=True).start()
if targets:
    res = [None] * len(targets)
    def one(i, t):
        res[i] = connect(t[0], t[1], int(t[2]), float(P.get("timeout", 3)), P.get("nonce", ""))
    ths = [threading.Thread(target=one, args=(i, t), daemon=True) for i, t in enumerate(targets)]
    [x.start() for x in ths]; [x.join() for x in ths]
    for r in res:
        out(r)
if th is not None:
    th.join(max(0.0, deadline - time.monotonic()))
    out({"t": "accepted", "peers": peers})
'''

# The same checks for images without python3. Parameters are positional arguments ($1...), never
# part of the program text. Interface addresses are unknown here (no ioctl): names only.
BASH_PROBE = r'''
set +e
mode=$1; leader=$2; port=$3; ctimeout=$4; nonce=$5; lifetime=$6; me=$7; shift 7
esc() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '%s' "${s//$'\n'/ }"; }
exec {zzz}<> <(:)
# milliseconds between two $EPOCHREALTIME stamps (bash 5+; "null" on older bash)
ms() { if [ -n "$1" ] && [ -n "$2" ]; then local a=${1/[.,]/} b=${2/[.,]/}; echo $(( (10#$b - 10#$a) / 1000 )); else echo null; fi; }
nap() { read -t "$1" -u "$zzz" _; }
target=${LWS_LEADER_ADDRESS:-$leader}
ifs=""; for d in /sys/class/net/*; do n=${d##*/}; [ -e "$d" ] || continue; ifs+="${ifs:+,}{\"name\":\"$(esc "$n")\"}"; done
dns=""
if [ -n "$target" ]; then
  if command -v getent >/dev/null 2>&1; then
    t0=$EPOCHREALTIME; r=$(getent ahostsv4 "$target" 2>/dev/null); rc=$?; t1=$EPOCHREALTIME
    ms=$(ms "$t0" "$t1")
    if [ $rc -eq 0 ] && [ -n "$r" ]; then
      addrs=""; seen=" "; while read -r a _; do case "$seen" in *" $a "*) ;; *) seen+="$a "; addrs+="${addrs:+,}\"$a\"";; esac; done <<< "$r"
      dns="{\"name\":\"$(esc "$target")\",\"addrs\":[$addrs],\"ms\":$ms}"
    else
      dns="{\"name\":\"$(esc "$target")\",\"error\":\"NXDOMAIN\",\"ms\":$ms}"
    fi
  else
    dns="{\"name\":\"$(esc "$target")\",\"error\":\"cannot resolve without python3 or getent\"}"
  fi
fi
printf '{"t":"info","tool":"bash","env":{"LWS_LEADER_ADDRESS":"%s","NCCL_SOCKET_IFNAME":"%s"},"ifaces":[%s]%s}\n' \
  "$(esc "$LWS_LEADER_ADDRESS")" "$(esc "$NCCL_SOCKET_IFNAME")" "$ifs" "${dns:+,\"dns\":$dns}"
if [ "$mode" = "listen" ] || [ "$mode" = "mesh" ]; then
  printf '{"t":"error","stage":"listen","error":"cannot listen without python3 (bash has no server sockets)"}\n'
fi
while [ $# -ge 3 ]; do
  label=$1; host=$2; p=$3; shift 3
  ( t0=$EPOCHREALTIME
    if err=$( { exec 3<>"/dev/tcp/$host/$p" && printf 'kubectl-lws %s %s\n' "$nonce" "$me" >&3; } 2>&1 ); then
      t1=$EPOCHREALTIME
      printf '{"t":"connect","label":"%s","host":"%s","port":%s,"result":"ok","ms":%s}\n' "$(esc "$label")" "$(esc "$host")" "$p" "$(ms "$t0" "$t1")"
    else
      case "$err" in *refused*) res=refused;; *"No route"*|*unreachable*) res="no route";; *"Name or service"*|*"not known"*|*resolve*) res="dns error";; *timed\ out*) res=timeout;; *) res=error;; esac
      printf '{"t":"connect","label":"%s","host":"%s","port":%s,"result":"%s","error":"%s"}\n' "$(esc "$label")" "$(esc "$host")" "$p" "$res" "$(esc "${err##*: }")"
    fi ) &
  pid=$!; waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge $(( ctimeout * 20 )) ]; then
      kill "$pid" 2>/dev/null
      printf '{"t":"connect","label":"%s","host":"%s","port":%s,"result":"timeout","error":"no answer in %ss"}\n' "$(esc "$label")" "$(esc "$host")" "$p" "$ctimeout"
      break
    fi
    nap 0.05; waited=$((waited+1))
  done
  wait "$pid" 2>/dev/null
done
'''


def _packed(program: str) -> str:
    """A ``-c`` program that unpacks ``program``: exec arguments travel in the URL, which servers cap
    (8 KiB is common), so the fixed text is sent compressed. It is still only our constant text."""
    blob = base64.b64encode(zlib.compress(program.encode(), 9)).decode()
    return f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{blob}')))"


def python_argv(params: dict[str, Any]) -> list[str]:
    """``python3 -I -S -c PROGRAM MARKER PARAMS`` (the marker makes leftovers easy to find)."""
    return ["python3", "-I", "-S", "-c", _packed(PYTHON_PROBE), MARKER, json.dumps(params, separators=(",", ":"))]


def bash_argv(params: dict[str, Any]) -> list[str]:
    """``bash -c PROGRAM MARKER mode leader port timeout nonce lifetime me [label host port]...``."""
    argv = ["bash", "-c", BASH_PROBE, MARKER, str(params.get("mode", "info")), str(params.get("leader") or ""),
            str(params.get("port", 0)), str(int(max(1, float(params.get("timeout", 3))))),
            str(params.get("nonce", "")), str(int(params.get("lifetime", 30))), str(params.get("me", ""))]
    for label, host, port in params.get("targets") or []:
        argv += [str(label), str(host), str(port)]
    return argv


# Reading the environment of a container: the main process's when we share its namespaces (so an
# entrypoint's changes show), else our own exec environment.
PYTHON_ENV = r'''
import json, os, sys
def same(ns):
    try:
        return os.stat("/proc/1/ns/" + ns).st_ino == os.stat("/proc/self/ns/" + ns).st_ino
    except OSError:
        return False
src, env = "exec", dict(os.environ)
if same("mnt") and same("net") and same("pid"):
    try:
        with open("/proc/1/environ", "rb") as f:
            raw = f.read().decode("utf-8", "replace")
        env = dict(p.split("=", 1) for p in raw.split("\0") if "=" in p); src = "pid1"
    except OSError:
        pass
sys.stdout.write(json.dumps({"t": "env", "source": src, "env": env}) + "\n")
'''

BASH_ENV = r'''
if [[ /proc/1/ns/mnt -ef /proc/self/ns/mnt && /proc/1/ns/net -ef /proc/self/ns/net && -r /proc/1/environ ]]; then
  printf 'source=pid1\0'
  while IFS= read -r -d '' v; do printf '%s\0' "$v"; done < /proc/1/environ
else
  printf 'source=exec\0'
  while IFS= read -r -d '' v; do printf '%s\0' "$v"; done < /proc/self/environ
fi
'''


def env_argvs() -> list[tuple[str, list[str]]]:
    """Candidates to read a container's environment, best first: python3, bash, env."""
    return [("python3", ["python3", "-I", "-S", "-c", _packed(PYTHON_ENV), MARKER]),
            ("bash", ["bash", "-c", BASH_ENV, MARKER]),
            ("env", ["env", "-0"])]


def parse_env_output(tool: str, stdout: str) -> tuple[str, dict[str, str]]:
    """(source, env) from any of the env_argvs programs."""
    if tool == "python3":
        for line in stdout.splitlines():
            if line.startswith("{"):
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                return rec.get("source", "exec"), dict(rec.get("env") or {})
        return "exec", {}
    source = "exec"
    env: dict[str, str] = {}
    for part in stdout.split("\0"):
        if "=" not in part:
            continue
        name, value = part.split("=", 1)
        if name == "source" and not env:
            source = value
            continue
        env[name] = value
    return source, env


def missing_binary(exit_code: int | None, error: str, stderr: str = "") -> bool:
    """Whether an exec failed because the program does not exist in the image."""
    text = f"{error} {stderr}".lower()
    if exit_code in (126, 127):
        return True
    return exit_code is None and ("executable file not found" in text or "no such file or directory" in text
                                  or "not found in $path" in text)
