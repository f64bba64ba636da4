"""Qwen2.5-Omni thinker (issue 18): the same loader, collator, SFT loss and GRPO step as Qwen2-Audio,
on a tiny random thinker built in the test through transformers' own classes and loaders."""

import numpy as np
import pytest
import torch
from tiny_qwen2_5_omni import build_tiny_qwen2_5_omni_thinker
from tiny_qwen2_audio import tiny_qa_rows


@pytest.fixture(scope="module")
def omni(tmp_path_factory):
    return build_tiny_qwen2_5_omni_thinker(tmp_path_factory.mktemp("omni"))


def load(path):
    from trl import ModelConfig

    from hyper_train.config import HyperModelArgs
    from hyper_train.model import load_model_and_processor

    return load_model_and_processor(ModelConfig(model_name_or_path=str(path), dtype="float32"), HyperModelArgs())


def test_thinker_loads_freezes_its_audio_tower_and_learns_from_the_chain(omni):
    from hyper_train.collator import AudioChatCollator

    model, processor, ids = load(omni)
    assert type(model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert set(ids) == {"<PAUSE>"}
    assert not any(p.requires_grad for p in model.model.audio_tower.parameters())
    batch = AudioChatCollator(processor)(tiny_qa_rows(2))
    assert batch["input_features"].shape[:2] == (2, 128)
    assert (batch["labels"] != -100).sum() > 0
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    head = model.lm_head.weight.detach().clone()
    tower = next(model.model.audio_tower.parameters()).detach().clone()
    loss = model(**batch).loss
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss) and not torch.equal(model.lm_head.weight, head)
    assert torch.equal(next(model.model.audio_tower.parameters()), tower)  # frozen

    ask = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "hi"}]}]
    texts = [processor.apply_chat_template(ask, add_generation_prompt=True, tokenize=False)]
    inputs = processor(text=texts, audio=[np.zeros(16000, np.float32)], sampling_rate=16000, padding=True,
                       padding_side="left", return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=True)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4


@pytest.mark.slow
def test_grpo_step_with_pause_on_the_thinker(omni, tmp_path):
    from tiny_qwen2_audio import make_grpo_trainer

    trainer = make_grpo_trainer(omni, tmp_path, max_steps=1)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    changed = [n for n, p in trainer.model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any("language_model" in n for n in changed)
    assert int(trainer.pause_processor.forced_total) > 0
