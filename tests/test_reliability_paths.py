"""Issue 13, item 6: every source reads only below its root (the folder source's own checks are in
``test_sources_folder.py::test_manifest_paths_cannot_escape_root``)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.sources import make_source


def tone(seconds, sr=16000, freq=440.0):
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_hf_row_paths_outside_the_dataset_folder_are_never_opened(tmp_path):
    import datasets

    secret = tmp_path / "secret.wav"
    sf.write(secret, tone(1.0), 16000)
    root = tmp_path / "ds"
    inside = root / "clips" / "ok.wav"
    inside.parent.mkdir(parents=True)
    sf.write(inside, tone(1.0, freq=330.0), 16000)
    # plain path strings (an Audio feature would have datasets stat the files while saving)
    paths = [str(secret), "../secret.wav", "/etc/passwd", "clips/ok.wav", str(inside)]
    datasets.Dataset.from_dict({"audio": paths}).save_to_disk(str(root))
    recs = list(make_source("hf", root))
    assert [r.meta.get("source_error", "read") for r in recs] == [
        "row names an audio file outside the dataset folder; not read"] * 3 + ["read", "read"]
    assert recs[3].audio is not None and recs[4].audio is not None
    # an in-memory dataset has no folder: file paths in its rows are not read at all
    recs = list(make_source("hf", datasets.Dataset.from_dict({"audio": [str(inside)]}), name="mem"))
    assert recs[0].audio is None and "outside the dataset folder" in recs[0].meta["source_error"]
    # a clip id column holding a path is refused before any row is read
    bad = datasets.Dataset.from_dict({"audio": [str(inside)], "uid": ["../../x"]})
    with pytest.raises(ValueError, match="column 'uid': clip_id '../../x' is not a plain name"):
        list(make_source("hf", bad, id_column="uid"))
