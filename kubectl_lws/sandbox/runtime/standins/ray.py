"""Stand-in ``ray`` CLI for the sandbox: ``ray status`` and ``ray list nodes --format=json`` print what
the real ones print for the cluster described in the state file the sandbox writes before each exec
(argv[1]). Formats and sources: tests/verify/data/README.md."""
import datetime
import json
import sys
import time

NO_RAY = ("ConnectionError: Could not find any running Ray instance. Please specify the one to connect to by "
          "setting `--address` flag or `RAY_ADDRESS` environment variable.")


def usage(n: float, total: float, name: str) -> str:
    if name in ("memory", "object_store_memory"):
        def fmt(v: float) -> str:
            for unit, div in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
                if v >= div:
                    return f"{v / div:.2f}{unit}"
            return f"{v:.0f}B" if v else "0B"
        return f" {fmt(n)}/{fmt(total)} {name}"
    return f" {n}/{total} {name}"


def status(state: dict) -> str:
    header = "=" * 8 + f" Autoscaler status: {datetime.datetime.now()} " + "=" * 8
    sep = "-" * 63
    nodes = state["nodes"]
    totals: dict = {}
    for node in nodes:
        for key, value in node["resources_total"].items():
            if not key.startswith("node:"):
                totals[key] = totals.get(key, 0.0) + value
    lines = [header, "Node status", sep, "Active:"]
    lines += [f" 1 node_{n['node_id']}" for n in nodes] or [" (no active nodes)"]
    lines += ["Pending:", " (no pending nodes)", "Recent failures:", " (no failures)", "", "Resources", sep,
              "Total Usage:"]
    for key in ("CPU", "GPU", "TPU", "memory", "object_store_memory"):
        if key in totals:
            used = totals[key] if key in ("GPU", "TPU") and state.get("placed") else 0.0
            lines.append(usage(float(used), float(totals[key]), key))
    lines += ["", "From request_resources:", " (none)", "Pending Demands:", " (no resource demands)"]
    return "\n".join(lines)


def main() -> int:
    with open(sys.argv[1]) as f:
        state = json.load(f)
    args = sys.argv[2:]
    if args[:1] in (["--version"], ["version"]):
        print("ray, version 2.49.1")
        return 0
    if state.get("hang"):
        time.sleep(3600)
    if args[:1] == ["status"]:
        if not state["head"]:
            print(NO_RAY, file=sys.stderr)
            return 1
        print(status(state))
        return 0
    if args[:2] == ["list", "nodes"]:
        if not state.get("list", True):
            print("ModuleNotFoundError: No module named 'aiohttp'\nTo use the state API (ray list), install "
                  "Ray with `pip install 'ray[default]'`", file=sys.stderr)
            return 1
        if not state["head"]:
            print(NO_RAY, file=sys.stderr)
            return 1
        if "--format=json" in args or ("--format" in args and args[args.index("--format") + 1:][:1] == ["json"]):
            print(json.dumps(state["nodes"]))
        else:
            print(f"======== List: {datetime.datetime.now()} ========\nStats:\n------------------------------\n"
                  f"Total: {len(state['nodes'])}\n")
        return 0
    print("Usage: ray [OPTIONS] COMMAND [ARGS]...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
