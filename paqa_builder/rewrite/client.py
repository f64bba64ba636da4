"""A small client for OpenAI-compatible ``/chat/completions`` endpoints (standard library only).

The API key is read from an environment variable when a request is made, sent only in the
``Authorization`` header, and never appears in an error message, a log line or a file.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
"""HTTP statuses worth another try (rate limits, overload, gateway trouble)."""


class RewriteError(RuntimeError):
    """The endpoint could not give an answer (after the retries); the message names the URL and
    the reason, never a header."""


class ChatClient:
    """Chat completions from ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``)."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None = "PAQA_REWRITER_API_KEY",
                 timeout_s: float = 60.0, retries: int = 2, requests_per_s: float = 0.0,
                 backoff_s: float = 1.0) -> None:
        """Args:
            base_url: the endpoint's root; ``/chat/completions`` is appended.
            model: the model name the endpoint serves.
            api_key_env: environment variable holding the API key (None or unset: no key sent).
            timeout_s: seconds before one request is abandoned.
            retries: further tries after a timeout, a refused connection or a ``RETRY_STATUS``.
            requests_per_s: at most this many request starts per second over all threads (0: no
                limit).
            backoff_s: wait before the first retry, doubled for each later one.
        """
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.min_interval = 1.0 / requests_per_s if requests_per_s > 0 else 0.0
        self.backoff_s = float(backoff_s)
        self._lock = threading.Lock()
        self._next_start = 0.0
        self.requests = 0
        """HTTP requests sent (retries included)."""

    def _wait_turn(self) -> None:
        if not self.min_interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.min_interval
        time.sleep(max(0.0, start - now))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def complete(self, messages: list[dict[str, str]], max_tokens: int = 96, temperature: float = 0.7,
                 seed: int | None = None) -> str:
        """The assistant's reply text for ``messages``; ``RewriteError`` when none comes."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature, "stream": False}
        if seed is not None:
            body["seed"] = seed
        data = json.dumps(body).encode("utf-8")
        reason = "no try made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            self._wait_turn()
            request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
            with self._lock:
                self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    reply = json.loads(response.read().decode("utf-8"))
                return str(reply["choices"][0]["message"]["content"] or "")
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
                if exc.code not in RETRY_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = type(getattr(exc, "reason", exc)).__name__ if not isinstance(exc, TimeoutError) \
                    else f"no answer within {self.timeout_s:g} s"
            except (ValueError, KeyError, IndexError, TypeError):
                reason = "the reply is not a chat completion"
                break
        raise RewriteError(f"{self.url}: {reason} (after {attempt + 1} tries)")
