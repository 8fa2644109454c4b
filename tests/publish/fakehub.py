"""A tiny stand-in for the Hub's HTTP API on 127.0.0.1, recording what the real huggingface_hub client sends.

It answers only the endpoints a snapshot push uses (create repo, refs, tree, YAML check, preupload,
commit, tag) and says every file is a "regular" upload, so the client's own code builds and sends the
whole commit, with no LFS or Xet transfer involved.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT_OID = "c0ffee" + "0" * 34


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def ndjson(self) -> list[dict]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class FakeHub:
    repo_files: list[str] = field(default_factory=list)  # what the repo holds before the push
    tags: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _reply(self, status: int, payload) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _record(self) -> Request:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(self.command, unquote(parts.path), parts.query,
                              {k.lower(): v for k, v in self.headers.items()}, body)
            hub.requests.append(request)
            return request

        def do_GET(self) -> None:
            request = self._record()
            if request.path.endswith("/refs"):
                self._reply(200, {"branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": "0" * 40}],
                                  "converts": [], "tags": [{"name": t, "ref": f"refs/tags/{t}",
                                                            "targetCommit": "1" * 40} for t in hub.tags]})
            elif "/tree/" in request.path:
                self._reply(200, [{"type": "file", "path": p, "size": 1, "oid": "2" * 40} for p in hub.repo_files])
            else:
                self._reply(404, {"error": f"fake hub: no GET {request.path}"})

        def do_POST(self) -> None:
            request = self._record()
            path = request.path
            if path == "/api/repos/create":
                payload = request.json()
                repo = f"{payload.get('organization')}/{payload['name']}"
                self._reply(200, {"url": f"{hub.url}/datasets/{repo}"})
            elif path == "/api/validate-yaml":
                self._reply(200, {})
            elif "/preupload/" in path:
                files = request.json()["files"]
                self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                            for f in files]})
            elif "/commit/" in path:
                repo = path.split("/api/datasets/")[1].split("/commit/")[0]
                self._reply(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{COMMIT_OID}",
                                  "commitOid": COMMIT_OID})
            elif "/tag/" in path:
                self._reply(200, {})
            else:
                self._reply(404, {"error": f"fake hub: no POST {path}"})

    return Handler


class running_hub:
    """Context manager: a FakeHub served on an ephemeral loopback port, stopped on exit."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
        self.hub.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self.hub

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
