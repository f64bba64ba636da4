"""The ``<PAUSE>`` token (and optionally the chain tags) in the vocabulary.

Ids are always looked up from the tokenizer (``token_id``); nothing in the package hard-codes one,
because the id depends on the checkpoint and on which extra tokens were added before it.
"""

from __future__ import annotations

from typing import Any

from paqa_builder.chain import ALL_TAGS, PAUSE_TOKEN


def get_tokenizer(processing_class: Any) -> Any:
    """The text tokenizer of a processor, or the argument itself when it already is a tokenizer."""
    return getattr(processing_class, "tokenizer", processing_class)


def chain_tag_strings() -> list[str]:
    """Every opening and closing chain tag, e.g. ``<THINK>`` and ``</THINK>``, in spec order."""
    return [s for tag in ALL_TAGS for s in (f"<{tag}>", f"</{tag}>")]


def token_id(processing_class: Any, token: str = PAUSE_TOKEN) -> int:
    """Id of ``token`` as one vocabulary entry; raises if the tokenizer does not hold it as such."""
    tok = get_tokenizer(processing_class)
    ids = tok.convert_tokens_to_ids([token])
    if not ids or ids[0] is None or ids[0] == tok.unk_token_id or tok.convert_ids_to_tokens(ids[0]) != token:
        raise KeyError(f"{token!r} is not a single token of this tokenizer; run add_hyper_tokens first "
                       "(hyper-train stage1 does) or load a checkpoint saved by hyper-train")
    return int(ids[0])


def add_hyper_tokens(model: Any, processing_class: Any, chain_tags: bool = False,
                     pause_token: str = PAUSE_TOKEN) -> dict[str, int]:
    """Add ``<PAUSE>`` (special) and, if ``chain_tags``, the chain tags; resize and init embeddings.

    New embedding rows (input and, when untied, output) are set to the mean of the existing rows, a
    neutral starting point that keeps the first forward passes close to the base model's. Chain tags
    are added as *non-special* added tokens: they become single tokens, but survive
    ``decode(skip_special_tokens=True)``, which TRL uses for completions that the format reward must
    still see. Returns ``{token: id}`` for every token handled (already present ones included).
    Idempotent: calling it on a checkpoint that already has the tokens changes nothing.
    """
    import torch
    from tokenizers import AddedToken

    tok = get_tokenizer(processing_class)
    known = len(tok)  # rows [0, known) hold real tokens; a checkpoint may carry spare rows above
    if pause_token not in tok.get_vocab():
        tok.add_special_tokens(
            {"additional_special_tokens": [AddedToken(pause_token, special=True, normalized=False)]},
            replace_extra_special_tokens=False,
        )
    tags = chain_tag_strings() if chain_tags else []
    missing = [t for t in tags if t not in tok.get_vocab()]
    if missing:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in missing])
    new_ids = list(range(known, len(tok)))
    if new_ids:
        emb = model.get_input_embeddings().weight
        in_mean = emb[:known].detach().float().mean(0)
        out_layer = model.get_output_embeddings()
        tied = out_layer is None or out_layer.weight is emb
        out_mean = None if tied else out_layer.weight[:known].detach().float().mean(0)
        if len(tok) > emb.shape[0]:
            model.resize_token_embeddings(len(tok), mean_resizing=False)
        # spare rows of a padded embedding matrix are untrained too, so they are overwritten as well
        with torch.no_grad():
            emb = model.get_input_embeddings().weight
            emb[new_ids] = in_mean.to(emb.dtype)
            if out_mean is not None:
                out_w = model.get_output_embeddings().weight
                out_w[new_ids] = out_mean.to(out_w.dtype)
    ids = {t: token_id(tok, t) for t in [pause_token, *tags]}
    # transformers keeps vocab sizes in the text sub-config of multimodal models; keep both in sync
    rows = model.get_input_embeddings().weight.shape[0]
    text_config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else None
    if text_config is not None and getattr(text_config, "vocab_size", rows) < rows:
        text_config.vocab_size = rows
    return ids
