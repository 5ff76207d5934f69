"""Stand-in OpenAI-compatible server (vLLM's /health and /v1/models) for the sandbox. Prints "ready"
once it listens. Formats and sources: tests/verify/data/README.md."""
import argparse
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=8000)
p.add_argument("--model", default="model")
p.add_argument("--health", type=int, default=200)
p.add_argument("--hang", action="store_true")
args = p.parse_args()
CREATED = int(time.time())


class Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    sys_version = ""

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", ctype="application/json"):
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if args.hang:
            time.sleep(3600)
        if self.path == "/health":
            self.send(args.health)
        elif self.path == "/v1/models":
            card = {"id": args.model, "object": "model", "created": CREATED, "owned_by": "vllm", "root": args.model,
                    "parent": None, "max_model_len": 131072,
                    "permission": [{"id": f"modelperm-{uuid.uuid4().hex}", "object": "model_permission",
                                    "created": CREATED, "allow_create_engine": False, "allow_sampling": True,
                                    "allow_logprobs": True, "allow_search_indices": False, "allow_view": True,
                                    "allow_fine_tuning": False, "organization": "*", "group": None,
                                    "is_blocking": False}]}
            self.send(200, json.dumps({"object": "list", "data": [card]}).encode())
        else:
            self.send(404, b'{"detail":"Not Found"}')


srv = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
srv.daemon_threads = True
sys.stdout.write("ready\n")
sys.stdout.flush()
srv.serve_forever()
