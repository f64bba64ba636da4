"""Scene mixer: speech utterances + background sounds -> scenes whose manifest is exact ground truth.

``paqa-build mix`` reads a speech corpus (speaker id + transcript per utterance) and a background
corpus (labelled environmental sounds), and writes a ``folder`` source the builder reads: one audio
file per scene plus ``manifest.jsonl`` with the speakers, turns (times and text), backgrounds
(label, mid, span, level) and SNR that went into it. The same scenes give QA with exact answer keys
(``recipes/oracle.yaml``) and a yardstick for the perception pipeline (``paqa-build eval``).

Modules: ``corpus`` (corpus readers), ``scene`` (planning + rendering), ``generate`` (espeak-ng
speech and synthetic backgrounds, so that everything works without a corpus), ``cli``.
"""

from .corpus import BackgroundClip, Utterance, read_background_corpus, read_speech_corpus
from .scene import MixRecipe, mix_corpus

__all__ = ["BackgroundClip", "MixRecipe", "Utterance", "mix_corpus", "read_background_corpus",
           "read_speech_corpus"]
