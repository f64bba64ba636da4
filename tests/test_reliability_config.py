"""Issue 13, item 9: recipe values are checked by type before any stage is imported or audio read."""

from __future__ import annotations

from pathlib import Path

import pytest

from paqa_builder.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample"


@pytest.mark.parametrize("override, message", [
    ("writer.clips_per_chunk=0", "writer.clips_per_chunk must be a whole number >= 1, got 0"),
    ("writer.rows_per_shard=0", "writer.rows_per_shard must be a whole number >= 1, got 0"),
    ("writer.rows_per_shard=2.5", "writer.rows_per_shard must be a whole number >= 1, got 2.5"),
    ("writer=5", "writer must be a mapping, got 5"),
    ("split=null", "split must be a mapping, got None"),
    ("split.train=abc", "split ratios must be numbers"),
    ("seed=abc", "seed must be a whole number, got 'abc'"),
    ("seed=true", "seed must be a whole number, got True"),
    ("seeed=1", "unknown recipe section 'seeed'; did you mean 'seed'?"),
    ("writer.rows_per_shrd=3", "unknown writer option 'rows_per_shrd'; did you mean 'rows_per_shard'?"),
    ("engine.kind=spark", "engine.kind must be one of local, ray, got 'spark'"),
    ("stages.tag.backend=5", "stages.tag.backend must be a backend name, got 5"),
])
def test_bad_values_stop_before_any_work_with_one_line(override, message, tmp_path, capsys):
    assert SAMPLE.is_dir()  # a real source: the recipe, not the source, is what is refused
    out = tmp_path / "out"
    code = main(["--source", str(SAMPLE), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                 "--set", override])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert message in err[0]
    assert not out.exists()  # refused before the output folder was even made


def test_good_overrides_still_apply(tmp_path):
    from paqa_builder.config import load_recipe

    recipe = load_recipe("labels_only", ["writer.clips_per_chunk=3", "seed=7", "engine.kind=ray"])
    assert (recipe["writer"]["clips_per_chunk"], recipe["seed"], recipe["engine"]["kind"]) == (3, 7, "ray")


def test_a_plugin_backend_naming_no_class_is_refused_without_importing_it(tmp_path, capsys, monkeypatch):
    import sys

    plugin = tmp_path / "side_effect_plugin.py"
    plugin.write_text(f"open({str(tmp_path / 'imported')!r}, 'w').write('ran')\nclass Real:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    base = ["--source", str(SAMPLE), "--out", str(out), "--recipe", "labels_only", "--no-progress"]
    assert main(base + ["--set", "stages.tag.backend=side_effect_plugin:Foo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend module 'side_effect_plugin' defines no 'Foo'" in err[0]
    assert not (tmp_path / "imported").exists() and "side_effect_plugin" not in sys.modules
    assert main(base + ["--set", "stages.tag.backend=no_such_module_xyz:Foo"]) == 2
    assert "backend module 'no_such_module_xyz' not found" in capsys.readouterr().err
    # a class that is there is imported and then checked to be a Stage, as before
    assert main(base + ["--set", "stages.tag.backend=side_effect_plugin:Real"]) == 2
    assert "is not a Stage subclass" in capsys.readouterr().err and (tmp_path / "imported").exists()
