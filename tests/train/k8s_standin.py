"""A local stand-in of the Kubernetes API, enough for the TrainJob launcher: TrainJobs
(create / get / delete), pods by label selector and their logs. Each GET of a TrainJob moves
it one step along a scripted list of conditions; node 0's log grows with it. Every request is
recorded so tests can check what a real API server would have received."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

JOBS = re.compile(
    r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/([^/]+)/trainjobs(?:/([^/]+))?$"
)
PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods$")
LOG = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$")


def condition(kind: str, reason: str = "", message: str = "") -> dict:
    return {"type": kind, "status": "True", "reason": reason, "message": message}


class KubeStandIn:
    """`steps`: the status.conditions of successive GETs (the last one repeats);
    `log_lines`: node 0's log, one more line visible per GET; `fail_get`: GET numbers answered 503;
    `crd_lacks`: TrainJob spec fields the served CRD does not have (an older Trainer): a strict
    create naming one is refused as the API server does, a lax one drops them (pruning)."""

    def __init__(
        self,
        steps: list[list[dict]],
        log_lines: list[str] = (),
        fail_get: set[int] = frozenset(),
        crd_lacks: tuple[str, ...] = (),
    ):
        self.steps, self.log_lines, self.fail_get = steps, list(log_lines), set(fail_get)
        self.crd_lacks = crd_lacks
        self.jobs: dict[tuple[str, str], dict] = {}
        self.gets = 0
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> KubeStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def methods(self, method: str) -> list[str]:
        return [path for m, path in self.requests if m == method]

    def _job_view(self, key: tuple[str, str]) -> dict:
        step = self.steps[min(self.gets - 1, len(self.steps) - 1)]
        return {**self.jobs[key], "status": {"conditions": step}}

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: dict | str) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header(
                    "Content-Type", "text/plain" if isinstance(body, str) else "application/json"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str = "") -> None:
                self._send(
                    code,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": reason,
                        "message": message,
                        "code": code,
                    },
                )

            def _route(self, method: str) -> None:
                url = urlparse(self.path)
                stand_in.requests.append((method, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if m := JOBS.match(url.path):
                    strict = parse_qs(url.query).get("fieldValidation") == ["Strict"]
                    return self._jobs(method, m.group(1), m.group(2), body, strict)
                if (m := PODS.match(url.path)) and method == "GET":
                    selector = parse_qs(url.query).get("labelSelector", [""])[0]
                    name = re.search(r"jobset-name=([^,]+)", selector)
                    known = name and any(n == name.group(1) for _, n in stand_in.jobs)
                    items = (
                        [
                            {
                                "metadata": {
                                    "name": f"{name.group(1)}-node-0-0",
                                    "namespace": m.group(1),
                                }
                            }
                        ]
                        if known
                        else []
                    )
                    return self._send(
                        200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
                    )
                if LOG.match(url.path) and method == "GET":
                    return self._send(200, "\n".join(stand_in.log_lines[: stand_in.gets]))
                self._status(404, "NotFound")

            def _unknown_fields(self, body: dict, strict: bool) -> str | None:
                unknown = [f for f in stand_in.crd_lacks if f in body["spec"]]
                if unknown and strict:
                    return (
                        f'TrainJob in version "v1alpha1" cannot be handled as a TrainJob: '
                        f'strict decoding error: unknown field "spec.{unknown[0]}"'
                    )
                for field_name in unknown:
                    del body["spec"][field_name]
                return None

            def _jobs(self, method: str, namespace: str, name: str | None, body, strict) -> None:
                if method == "POST":
                    key = (namespace, body["metadata"]["name"])
                    if key in stand_in.jobs:
                        return self._status(409, "AlreadyExists")
                    if message := self._unknown_fields(body, strict):
                        return self._status(400, "BadRequest", message)
                    stand_in.jobs[key] = body
                    return self._send(201, body)
                key = (namespace, name)
                if key not in stand_in.jobs:
                    return self._status(404, "NotFound")
                if method == "DELETE":
                    del stand_in.jobs[key]
                    return self._send(200, {"kind": "Status", "status": "Success"})
                stand_in.gets += 1
                if stand_in.gets in stand_in.fail_get:
                    return self._status(503, "ServiceUnavailable")
                self._send(200, stand_in._job_view(key))

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        return Handler
