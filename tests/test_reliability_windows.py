"""Issue 13, item 4: windows per file are capped whatever the header claims."""

from __future__ import annotations

import random
import resource
import subprocess
import time

from paqa_builder.audio_io import decoded_duration, readable_duration
from paqa_builder.sources import make_source, plan_windows


def _brute_force(duration, window_s, hop_s, min_window_s):
    out, k = [], 0
    while True:
        start = round(k * hop_s, 6)
        if start >= duration:
            break
        length = min(window_s, duration - start)
        if length < min_window_s:
            break
        out.append((start, round(length, 6)))
        k += 1
        if start + length >= duration:
            break
    return out


def test_plan_windows_counts_what_it_cuts_off_without_listing_it():
    rng = random.Random(0)
    for _ in range(500):
        window = rng.choice([5.0, 10.0, 7.5])
        hop = rng.choice([window, window / 2, window * 1.5])
        duration = rng.uniform(31.0, 400.0)
        cap = rng.randint(1, 30)
        full = _brute_force(duration, window, hop, 1.0)
        wins, dropped = plan_windows(duration, window, hop, 30.0, cap, 1.0)
        assert wins == full[:cap] and dropped == max(0, len(full) - cap), (duration, window, hop, cap)


def test_an_absurd_header_length_is_planned_at_the_cap_in_no_time():
    started = time.perf_counter()
    wins, dropped = plan_windows(1.9e14, 10.0, 10.0, 30.0, 360, 1.0)  # libsndfile's "2**63 frames"
    assert time.perf_counter() - started < 0.5
    assert len(wins) == 360 and wins[-1] == (3590.0, 10.0) and dropped == 19_000_000_000_000 - 360


def test_flac_without_a_length_is_measured_by_decoding_and_capped(tmp_path):
    path = tmp_path / "nolen.flac"
    # written to a pipe, so the encoder cannot go back and fill in the length: 2 h, 48 kHz stereo
    with open(path, "wb") as fh:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        "anullsrc=r=48000:cl=stereo", "-t", "7200", "-f", "flac", "pipe:1"],
                       stdout=fh, check=True)
    import soundfile as sf

    assert sf.info(str(path)).duration > 1e9  # the header really is unusable
    assert readable_duration(path) == 7200.0
    assert decoded_duration(path, limit_s=50.0) == 50.0
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    src = make_source("folder", tmp_path, window_s=10.0, max_clip_s=30.0, max_windows_per_file=4)
    recs = list(src)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [r.clip_id for r in recs] == ["nolen_w000", "nolen_w001", "nolen_w002", "nolen_w003"]
    assert [(r.offset, r.max_duration) for r in recs] == [(0.0, 10.0), (10.0, 10.0), (20.0, 10.0), (30.0, 10.0)]
    assert src.report["windows_dropped"] >= 1 and grown_mb < 200
