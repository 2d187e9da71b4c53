"""The llm backend against a real HTTP server on loopback (no patching of the client)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ecamp_bench.errors import EcampBenchError
from ecamp_bench.text.distill import BackendUnavailableError, distill_contexts
from ecamp_bench.text.distill_llm import LLMBackend, LLMSettings

KEY = "sk-test-5ecret-value"


class FakeEndpoint:
    """A chat-completions server on 127.0.0.1:<free port>; ``script`` holds actions for the next requests."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[object] = []  # int status, "hang", or "ok" (the default when empty)
        self.lock = threading.Lock()
        self.active = self.max_active = 0
        self.delay = 0.0
        self.failing: dict[str, int] = {}  # report text → status it always gets
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    report = body["messages"][1]["content"].split("\n\n")[1]
                    action = fake.script.pop(0) if fake.script else fake.failing.get(report, "ok")
                    fake.active += 1
                    fake.max_active = max(fake.max_active, fake.active)
                # A request stops counting as active *before* its response is written: once the client has
                # the answer it may send the next request, possibly before this thread runs again.
                time.sleep(fake.delay)
                if action == "hang":
                    time.sleep(1.0)
                with fake.lock:
                    fake.active -= 1
                if action == "hang":
                    return
                try:
                    if isinstance(action, int):
                        self.send_response(action)
                        self.send_header("Retry-After", "0")
                        self.end_headers()
                        self.wfile.write(b'{"error": "busy"}')
                        return
                    answer = {"choices": [{"message": {"role": "assistant", "content": f"Entity context: {report}"}}]}
                    payload = json.dumps(answer).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    fake = FakeEndpoint()
    yield fake
    fake.close()


def _backend(url, tmp_path, **kw):
    settings = dict(base_url=url, model="tiny", timeout_s=2.0, max_retries=2, backoff_s=0.01,
                    cache_dir=tmp_path / "llm")
    settings.update(kw)
    return LLMBackend(LLMSettings(**settings))


def test_answers_auth_header_and_cache(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    reports = [f"Report number {i}. Small left effusion." for i in range(6)]
    backend = _backend(endpoint.url, tmp_path, concurrency=3)
    assert backend.distill(reports) == [f"Entity context: {r}" for r in reports]
    assert len(endpoint.requests) == 6
    first = endpoint.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["body"]["model"] == "tiny"
    assert first["headers"]["Authorization"] == f"Bearer {KEY}"
    assert "present, absent or uncertain" in first["body"]["messages"][1]["content"]
    # a second backend over the same cache asks nothing
    again = _backend(endpoint.url, tmp_path)
    assert again.distill(reports) == [f"Entity context: {r}" for r in reports]
    assert len(endpoint.requests) == 6
    cached = "".join(p.read_text() for p in (tmp_path / "llm").rglob("*.json"))
    assert KEY not in cached and "Report number 3" in cached


def test_concurrency_limit(endpoint, tmp_path):
    endpoint.delay = 0.05
    _backend(endpoint.url, tmp_path, concurrency=2).distill([f"r{i}." for i in range(8)])
    assert endpoint.max_active == 2


def test_retry_500_then_success_logs_no_key(endpoint, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MY_KEY", KEY)
    endpoint.script = [500, 429]
    backend = _backend(endpoint.url, tmp_path, api_key_env="MY_KEY")
    with caplog.at_level(logging.DEBUG):
        summary = distill_contexts([("s1", "Tiny report.")], backend, tmp_path / "ctx.jsonl")
    assert summary.done == 1 and summary.failed == 0
    assert len(endpoint.requests) == 3
    assert endpoint.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert "HTTP 500" in caplog.text and "HTTP 429" in caplog.text
    assert KEY not in caplog.text
    assert KEY not in (tmp_path / "ctx.jsonl").read_text()


def test_persistent_5xx_fails_report_not_run(endpoint, tmp_path):
    # max_retries=2: three attempts for s1 in the chunk, three more when the failed chunk is redone report by
    # report (s2's answer comes from the cache then)
    endpoint.failing = {"One.": 503}
    backend = _backend(endpoint.url, tmp_path, concurrency=1)
    summary = distill_contexts([("s1", "One."), ("s2", "Two.")], backend, tmp_path / "ctx.jsonl", chunk_size=2)
    assert (summary.done, summary.failed) == (1, 1)
    assert len(endpoint.requests) == 7
    assert summary.errors[0][0] == "s1" and "HTTP 503" in summary.errors[0][1]


def test_hanging_request_times_out(endpoint, tmp_path):
    endpoint.script = ["hang", "hang"]
    backend = _backend(endpoint.url, tmp_path, timeout_s=0.2, max_retries=1)
    started = time.monotonic()
    with pytest.raises(EcampBenchError, match="no answer within 0.2 s") as info:
        backend.distill(["Hanging report."])
    assert not isinstance(info.value, BackendUnavailableError)
    assert time.monotonic() - started < 1.5


def test_dead_port_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = _backend(url, tmp_path, max_retries=1)
    with pytest.raises(BackendUnavailableError, match=rf"cannot reach the LLM endpoint {url}/chat/completions"):
        distill_contexts([("s1", "A report.")], backend, tmp_path / "ctx.jsonl")


def test_client_error_is_not_retried(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    endpoint.script = [401]
    with pytest.raises(EcampBenchError, match="HTTP 401") as info:
        _backend(endpoint.url, tmp_path).distill(["A report."])
    assert len(endpoint.requests) == 1 and KEY not in str(info.value)
