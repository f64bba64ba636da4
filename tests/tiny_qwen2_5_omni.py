"""Test helper: a tiny random-weight Qwen2.5-Omni *thinker* (the audio-text half of Qwen2.5-Omni),
saved to a folder and reloaded through ``AutoProcessor`` and the model class, as a real checkpoint.

Nothing is downloaded. The tokenizer is the tiny byte-level BPE of ``tiny_qwen2_audio`` with the
Omni special tokens; the chat template is a minimal one in the Omni layout (``<|audio_bos|>
<|AUDIO|><|audio_eos|>`` per audio part). ``Qwen2_5OmniProcessor`` needs a video processor, which
needs torchvision (in the ``[train]`` extra). ``<PAUSE>`` is added by ``add_hyper_tokens``.
"""

from __future__ import annotations

from pathlib import Path

from tiny_qwen2_audio import save_tiny, tiny_tokenizer

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>",
           "<|vision_bos|>", "<|vision_eos|>", "<|IMAGE|>", "<|VIDEO|>"]
ROLES = {"audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
         "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "vision_bos_token": "<|vision_bos|>",
         "vision_eos_token": "<|vision_eos|>"}
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def build_tiny_qwen2_5_omni_thinker(out_dir: str | Path, seed: int = 0) -> Path:
    """Build, save and return the folder of a tiny Qwen2.5-Omni thinker + processor with ``<PAUSE>``."""
    import torch
    import transformers as tf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tok = tiny_tokenizer(SPECIAL, extra_special_tokens=ROLES)
    features = tf.WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=10,
                                       hop_length=160, n_fft=400)
    processor = tf.Qwen2_5OmniProcessor(image_processor=tf.Qwen2VLImageProcessor(),
                                        video_processor=tf.Qwen2VLVideoProcessor(), feature_extractor=features,
                                        tokenizer=tok, chat_template=CHAT_TEMPLATE)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in ROLES.items()}
    # 2 text layers of width 48 (multimodal rope over 3 sections of 2), 2 audio layers of width 32,
    # a one-block vision tower the audio path never uses
    config = tf.Qwen2_5OmniThinkerConfig(
        audio_config={"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2,
                      "encoder_ffn_dim": 64, "d_model": 32, "output_dim": 48, "n_window": 50,
                      "max_source_positions": 500},
        vision_config={"depth": 1, "hidden_size": 16, "out_hidden_size": 48, "num_heads": 2,
                       "intermediate_size": 32, "fullatt_block_indexes": [0]},
        text_config={"vocab_size": len(tok), "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 2]}},
        audio_token_index=ids["audio_token"], image_token_index=ids["image_token"],
        video_token_index=ids["video_token"], audio_start_token_id=ids["audio_bos_token"],
        audio_end_token_id=ids["audio_eos_token"], vision_start_token_id=ids["vision_bos_token"],
        vision_end_token_id=ids["vision_eos_token"])
    return save_tiny(tf.Qwen2_5OmniThinkerForConditionalGeneration(config), processor, tok, out)
