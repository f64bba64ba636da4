"""Optional LLM rewriter: paraphrase questions and the chain's prose, never the facts.

``stage.py`` is the ``rewrite`` stage (backend ``openai``: any OpenAI-compatible endpoint, vLLM,
llama.cpp server, Ollama, hosted); ``client.py`` talks to the endpoint (timeouts, retries, rate
limit, the API key read from the environment and never written); ``verify.py`` decides whether a
rewrite keeps every fact; ``local_server.py`` serves a packaged small instruct model offline.
"""
