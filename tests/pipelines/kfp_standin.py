"""A local stand-in of the Kubeflow Pipelines v2beta1 REST API, enough for `kfp.Client`'s
upload / run / recurring-run calls. It keeps everything in memory and records each
request so tests can check what a real server would have received."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


class KfpStandIn:
    def __init__(self) -> None:
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}
        self.packages: dict[str, bytes] = {}
        self.experiments: dict[str, dict] = {}
        self.runs: list[dict] = []
        self.recurring_runs: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> KfpStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    # --- the endpoints -------------------------------------------------------------
    def list_pipelines(self, query):
        name = _filter_value(query)
        found = [p for p in self.pipelines.values() if name is None or p["display_name"] == name]
        return 200, {"pipelines": found, "total_size": len(found)} if found else {}

    def upload_pipeline(self, query, body, content_type):
        pid = self._new_id("pipeline")
        pipeline = {
            "pipeline_id": pid,
            "display_name": query["name"][0],
            "namespace": query.get("namespace", [""])[0],
        }
        self.pipelines[pid] = pipeline
        self.versions[pid] = []
        self._add_version(pid, query["name"][0], _multipart_file(body, content_type))
        return 200, pipeline

    def upload_version(self, query, body, content_type):
        pid = query["pipelineid"][0]
        if pid not in self.pipelines:
            return 404, {"error": f"pipeline {pid} not found"}
        return 200, self._add_version(pid, query["name"][0], _multipart_file(body, content_type))

    def _add_version(self, pid: str, name: str, package: bytes) -> dict:
        vid = self._new_id("version")
        version = {
            "pipeline_id": pid,
            "pipeline_version_id": vid,
            "display_name": name,
            "created_at": f"2026-01-01T00:00:{len(self.versions[pid]):02d}Z",
        }
        self.versions[pid].append(version)
        self.packages[vid] = package
        return version

    def list_versions(self, pid, query):
        versions = sorted(
            self.versions.get(pid, []),
            key=lambda v: v["created_at"],
            reverse="desc" in query.get("sort_by", [""])[0],
        )
        return 200, {
            "pipeline_versions": versions[: int(query.get("page_size", ["100"])[0])],
            "total_size": len(versions),
        }

    def list_experiments(self, query):
        name = _filter_value(query)
        found = [e for e in self.experiments.values() if name is None or e["display_name"] == name]
        return 200, {"experiments": found, "total_size": len(found)} if found else {}

    def create_experiment(self, body):
        eid = self._new_id("experiment")
        self.experiments[eid] = {"experiment_id": eid, **json.loads(body)}
        return 200, self.experiments[eid]

    def create_run(self, body):
        run = {"run_id": self._new_id("run"), "state": "PENDING", **json.loads(body)}
        self.runs.append(run)
        return 200, run

    def create_recurring_run(self, body):
        recurring = {
            "recurring_run_id": self._new_id("recurring"),
            "status": "ENABLED",
            **json.loads(body),
        }
        self.recurring_runs.append(recurring)
        return 200, recurring

    def route(self, method: str, path: str, query, body: bytes, content_type: str):
        self.requests.append((method, path))
        parts = path.removeprefix(API).strip("/").split("/")
        match method, parts:
            case "GET", ["healthz"]:
                return 200, {"commit_sha": "standin"}
            case "GET", ["pipelines"]:
                return self.list_pipelines(query)
            case "POST", ["pipelines", "upload"]:
                return self.upload_pipeline(query, body, content_type)
            case "POST", ["pipelines", "upload_version"]:
                return self.upload_version(query, body, content_type)
            case "GET", ["pipelines", pid, "versions"]:
                return self.list_versions(pid, query)
            case "GET", ["experiments"]:
                return self.list_experiments(query)
            case "POST", ["experiments"]:
                return self.create_experiment(body)
            case "POST", ["runs"]:
                return self.create_run(body)
            case "POST", ["recurringruns"]:
                return self.create_recurring_run(body)
        return 404, {"error": f"no route {method} {path}"}

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = standin.route(
                    method,
                    url.path,
                    parse_qs(url.query),
                    body,
                    self.headers.get("Content-Type", ""),
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's naming
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler


def _filter_value(query) -> str | None:
    raw = query.get("filter", [""])[0]
    if not raw:
        return None
    predicates = json.loads(raw).get("predicates", [])
    return next((p.get("stringValue") or p.get("string_value") for p in predicates), None)


def _multipart_file(body: bytes, content_type: str) -> bytes:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return part.get_payload(decode=True)
    raise ValueError("no uploadfile part in the multipart body")
