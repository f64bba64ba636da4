"""Tokens, the Stage I collator and SFT steps on a tiny Qwen2-Audio built in the test."""

import pytest
import torch
from tiny_qwen2_audio import build_tiny_qwen2_audio, tiny_qa_dataset

from hyper_train.collator import IGNORE_INDEX, AudioChatCollator
from hyper_train.tokens import add_hyper_tokens, token_id
from paqa_builder.chain import PAUSE_TOKEN


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def ds():
    return tiny_qa_dataset(4)


def load(path):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    return Qwen2AudioForConditionalGeneration.from_pretrained(path), AutoProcessor.from_pretrained(path)


def test_pause_token_saved_with_processor_and_mean_initialised(tiny, tmp_path):
    model, proc = load(tiny)
    pid = token_id(proc)
    assert proc.tokenizer.tokenize(f"a {PAUSE_TOKEN} b").count(PAUSE_TOKEN) == 1
    assert model.get_input_embeddings().weight.shape[0] == len(proc.tokenizer)
    # adding the chain tags: new rows equal the mean of the old ones, ids looked up, idempotent
    n_before = len(proc.tokenizer)
    mean = model.get_input_embeddings().weight[:n_before].mean(0)
    ids = add_hyper_tokens(model, proc, chain_tags=True)
    assert ids[PAUSE_TOKEN] == pid
    new = [i for t, i in ids.items() if t != PAUSE_TOKEN]
    assert min(new) == n_before and len(new) == 20
    assert torch.allclose(model.get_input_embeddings().weight[new], mean.expand(len(new), -1), atol=1e-6)
    assert torch.allclose(model.get_output_embeddings().weight[new[0]],
                          model.get_output_embeddings().weight[:n_before].mean(0), atol=1e-6)
    assert add_hyper_tokens(model, proc, chain_tags=True) == ids
    assert proc.tokenizer.decode([ids["<THINK>"], pid], skip_special_tokens=True) == "<THINK>"
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    model2, proc2 = load(tmp_path)
    assert token_id(proc2, "</FINAL_ANSWER>") == ids["</FINAL_ANSWER>"]
    assert torch.equal(model2.get_input_embeddings().weight, model.get_input_embeddings().weight)


def test_token_id_raises_for_a_token_not_in_the_vocabulary(tiny):
    _, proc = load(tiny)
    with pytest.raises(KeyError, match="add_hyper_tokens"):
        token_id(proc, "<NOT_A_TOKEN>")


def test_collator_labels_only_the_chain_and_loss_ignores_prompt(tiny, ds):
    model, proc = load(tiny)
    batch = AudioChatCollator(proc)([ds[0], ds[1]])
    audio_id = proc.tokenizer.convert_tokens_to_ids(proc.audio_token)
    assert batch["input_features"].shape[:2] == (2, 128)
    assert ((batch["input_ids"] == audio_id).sum(1) > 10).all()  # placeholder expanded per frame
    assert (batch["labels"][batch["input_ids"] == audio_id] == IGNORE_INDEX).all()
    for i in range(2):
        lab = batch["labels"][i]
        text = proc.tokenizer.decode(lab[lab != IGNORE_INDEX])
        assert text == ds[i]["chain"] + "<|im_end|>\n"
    # loss = NLL over the chain tokens only, the prompt's position found independently
    out = model(**batch)
    prompt = proc.apply_chat_template(ds[0]["messages"][:1], add_generation_prompt=True, tokenize=False)
    from hyper_train.data import decode_audio
    p_ids = proc(text=[prompt], audio=[decode_audio(ds[0]["audio"])], return_tensors="pt")["input_ids"][0]
    n_real = int(batch["attention_mask"][0].sum())
    start = int(batch["attention_mask"][0].nonzero()[0])
    logits = model(**{k: v[:1] for k, v in batch.items() if k != "labels"}).logits[0].float()
    pos = torch.arange(start + len(p_ids), start + n_real)
    nll0 = torch.nn.functional.cross_entropy(logits[pos - 1], batch["input_ids"][0, pos], reduction="sum")
    full = torch.nn.functional.cross_entropy(
        out.logits[:, :-1].reshape(-1, out.logits.shape[-1]).float(), batch["labels"][:, 1:].reshape(-1),
        reduction="none", ignore_index=IGNORE_INDEX).view(2, -1)[0].sum()
    assert torch.allclose(nll0, full, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("use_peft", [False, True])
def test_two_sft_steps_change_parameters(tiny, ds, tmp_path, use_peft):
    from trl import ModelConfig, SFTConfig

    from hyper_train.config import DataArgs, HyperModelArgs
    from hyper_train.sft import build_sft_trainer

    margs = ModelConfig(model_name_or_path=str(tiny), dtype="float32", use_peft=use_peft, lora_r=4,
                        lora_alpha=8)
    args = SFTConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-2,
                     report_to=[], save_strategy="no", use_cpu=True, max_length=None, logging_steps=1)
    trainer = build_sft_trainer(args, margs, DataArgs(), HyperModelArgs(), train_dataset=ds)
    model = trainer.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert not any("audio_tower" in n for n in changed)  # frozen by default
    if use_peft:
        assert any("lora_B" in n for n in changed)
        assert all("lora_" in n or "trainable_tokens" in n for n in changed)
    else:
        assert any("language_model.layers.0" in n for n in changed)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(l == l and l > 0 for l in losses)


@pytest.mark.slow
def test_push_to_hub_uploads_the_merged_model(tiny, ds, tmp_path, monkeypatch):
    """The Hub is unreachable here: the upload call is recorded, with what the folder holds then."""
    from trl import ModelConfig, SFTConfig

    from hyper_train.config import DataArgs, HyperModelArgs
    from hyper_train.model import save_final
    from hyper_train.sft import build_sft_trainer

    margs = ModelConfig(model_name_or_path=str(tiny), dtype="float32", use_peft=True, lora_r=4, lora_alpha=8)
    args = SFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, report_to=[],
                     save_strategy="no", use_cpu=True, max_length=None, push_to_hub=False)
    trainer = build_sft_trainer(args, margs, DataArgs(), HyperModelArgs(), train_dataset=ds)
    trainer.train()
    pushes = []
    monkeypatch.setattr(trainer, "push_to_hub", lambda **kw: pushes.append(
        (kw.get("commit_message"), sorted(p.name for p in (tmp_path / "merged").iterdir()))))
    trainer.args.push_to_hub = True
    monkeypatch.setattr(trainer, "save_model", lambda *a, **k: None)  # its own push needs the network
    out = save_final(trainer, trainer.processing_class, str(tmp_path), merge_lora=True)
    assert out == str(tmp_path / "merged")
    assert len(pushes) == 1 and "merged LoRA model" in pushes[0][0]
    assert "model.safetensors" in pushes[0][1] and "processor_config.json" in pushes[0][1]


@pytest.mark.slow
def test_lora_trains_the_new_tokens_rows_of_the_untied_lm_head(tiny, ds, tmp_path):
    """With LoRA and the chain tags added, the tags' LM-head rows must move (the head is untied in
    Qwen2-Audio), or the model could never learn to emit a tag; every other head row stays."""
    from trl import ModelConfig, SFTConfig

    from hyper_train.config import DataArgs, HyperModelArgs
    from hyper_train.model import load_model_and_processor, output_head_name
    from hyper_train.sft import build_sft_trainer

    margs = ModelConfig(model_name_or_path=str(tiny), dtype="float32", use_peft=True, lora_r=4, lora_alpha=8)
    assert output_head_name(load_model_and_processor(margs, HyperModelArgs())[0]) == "lm_head"  # untied
    args = SFTConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, learning_rate=5e-2,
                     report_to=[], save_strategy="no", use_cpu=True, max_length=None)
    trainer = build_sft_trainer(args, margs, DataArgs(), HyperModelArgs(add_chain_tags=True), train_dataset=ds)
    peft_model = trainer.model
    base = peft_model.get_base_model()
    new = sorted(peft_model.peft_config["default"].trainable_token_indices["lm_head"])
    assert len(new) == 21  # 20 tags + <PAUSE>

    def head_rows():
        hidden = torch.eye(base.config.text_config.hidden_size)
        return base.lm_head(hidden).T.detach().clone()  # (vocab, hidden), through peft's wrapper

    before = head_rows()
    trainer.train()
    after = head_rows()
    moved = (after - before).abs().sum(1) > 0
    assert moved[new].any(), "no new LM-head row trained"
    old = torch.ones_like(moved)
    old[new] = False
    assert not moved[old].any()
