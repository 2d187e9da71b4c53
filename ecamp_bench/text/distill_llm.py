"""The ``llm`` context backend: any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server,
Ollama, a hosted API), standard library only.

``POST {base_url}/chat/completions`` with the prompt below (ECAMP distilled its contexts with Vicuna and a
prompt asking for each entity's presence, location and severity). Requests run in a thread pool of
``concurrency`` workers; 429, 5xx, timeouts and connection failures are retried with exponential back-off
(honouring ``Retry-After``); every answer is cached on disk under a hash of (model, prompt, report), so
nothing is asked twice. The API key is read from the environment variable ``api_key_env`` and only ever
sent in the ``Authorization`` header: it is never logged, cached or put in an error message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ecamp_bench.errors import EcampBenchError
from ecamp_bench.paths import cache_dir
from ecamp_bench.text.distill import BackendUnavailableError
from ecamp_bench.text.entities import ENTITY_LEXICON

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are an expert radiologist. You rewrite chest X-ray reports as short, factual, entity-centred "
    "summaries and never add information that the report does not contain."
)
USER_PROMPT = (
    "Chest X-ray report:\n\n{report}\n\n"
    "For each of the following entities that the report mentions: {entities}, write one short sentence that "
    "states whether it is present, absent or uncertain, its location (left, right or bilateral; upper, middle "
    "or lower zone or lobe; base; apex) and its severity (for example small, mild, moderate, large, severe) "
    "when the report gives them. Skip entities the report does not mention. Answer with these sentences only, "
    "starting with 'Entity context:'."
)
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class LLMSettings:
    """How to reach the endpoint and how hard to try."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "vicuna-7b"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    temperature: float = 0.0
    max_tokens: int = 256
    cache_dir: Path | None = None  # default: <cache dir>/llm-contexts


class _Retryable(Exception):
    """A failure worth another attempt; ``delay`` is the server's Retry-After, if any."""

    def __init__(self, message: str, delay: float | None = None, unreachable: bool = False):
        super().__init__(message)
        self.delay, self.unreachable = delay, unreachable


class LLMBackend:
    """Context distillation by an OpenAI-compatible chat-completions endpoint."""

    def __init__(self, settings: LLMSettings | None = None, lexicon: tuple[str, ...] = ENTITY_LEXICON):
        self.settings = settings or LLMSettings()
        self.name = f"llm:{self.settings.model}"
        self.url = self.settings.base_url.rstrip("/") + "/chat/completions"
        self.lexicon = lexicon
        self.cache_root = self.settings.cache_dir or cache_dir() / "llm-contexts"
        self._key = os.environ.get(self.settings.api_key_env, "")

    def messages(self, report: str) -> list[dict[str, str]]:
        """The chat messages sent for ``report``."""
        user = USER_PROMPT.format(report=report.strip(), entities=", ".join(self.lexicon))
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]

    def _cache_path(self, report: str) -> Path:
        ident = json.dumps([self.settings.model, self.messages(report)], ensure_ascii=False)
        key = hashlib.sha256(ident.encode("utf-8")).hexdigest()
        return self.cache_root / key[:2] / f"{key}.json"

    def _cached(self, report: str) -> str | None:
        path = self._cache_path(report)
        try:
            return json.loads(path.read_text(encoding="utf-8"))["context"]
        except (OSError, ValueError, KeyError):
            return None

    def _store(self, report: str, context: str) -> None:
        from ecamp_bench.atomic import atomic_write_text

        atomic_write_text(self._cache_path(report),
                          json.dumps({"model": self.settings.model, "context": context}, ensure_ascii=False))

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _post_once(self, report: str) -> str:
        body = {
            "model": self.settings.model,
            "messages": self.messages(report),
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = self._scrub(exc.read(300).decode("utf-8", "replace"))
            if exc.code in _RETRY_STATUS:
                retry_after = exc.headers.get("Retry-After", "")
                delay = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None
                raise _Retryable(f"HTTP {exc.code}", delay) from None
            raise EcampBenchError(f"LLM endpoint {self.url} answered HTTP {exc.code}: {detail}") from None
        except (TimeoutError, socket.timeout):
            raise _Retryable(f"no answer within {self.settings.timeout_s:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise _Retryable(f"no answer within {self.settings.timeout_s:g} s") from None
            raise _Retryable(f"cannot connect ({exc.reason})", unreachable=True) from None
        except (ConnectionError, OSError) as exc:
            raise _Retryable(f"connection failed ({exc})", unreachable=True) from None
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EcampBenchError(f"LLM endpoint {self.url} sent no chat completion ({exc!r})") from None
        if not isinstance(content, str) or not content.strip():
            raise EcampBenchError(f"LLM endpoint {self.url} sent an empty answer")
        return content.strip()

    def ask(self, report: str) -> str:
        """The context for one report: from the cache, else from the endpoint (with retries)."""
        cached = self._cached(report)
        if cached is not None:
            return cached
        s = self.settings
        for attempt in range(s.max_retries + 1):
            try:
                context = self._post_once(report)
                break
            except _Retryable as exc:
                if attempt == s.max_retries:
                    if exc.unreachable:
                        raise BackendUnavailableError(f"cannot reach the LLM endpoint {self.url}: {exc}") from None
                    raise EcampBenchError(f"LLM endpoint {self.url}: {exc} after {attempt + 1} attempts") from None
                delay = exc.delay if exc.delay is not None else s.backoff_s * 2**attempt * (0.5 + random.random() / 2)
                delay = min(delay, s.max_backoff_s)
                log.warning("LLM endpoint %s: %s; retry %d/%d in %.2f s", self.url, exc, attempt + 1, s.max_retries,
                            delay)
                time.sleep(delay)
        self._store(report, context)
        return context

    def distill(self, reports: list[str], study_ids: list[str] | None = None) -> list[str]:
        """Contexts for ``reports`` (``concurrency`` requests at a time). Every answer is cached before the
        first failure, if any, is raised (an unreachable endpoint first)."""
        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            futures = [pool.submit(self.ask, report) for report in reports]
            errors = [f.exception() for f in futures]
        failures = [e for e in errors if e is not None]
        if failures:
            raise next((e for e in failures if isinstance(e, BackendUnavailableError)), failures[0])
        return [f.result() for f in futures]
