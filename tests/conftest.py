"""Shared test setup: offline, no telemetry, deterministic threads."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# A private datasets cache per test session, so tests never read what another session cached.
import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="paqa-test-hf-datasets-")
# removed when the session ends: each run used to leave about 5 MB behind in the temp folder
atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A throwaway ``PAQA_CACHE`` for one test module, so packaged models are never joined into
    the user's cache by the tests."""
    path = tmp_path_factory.mktemp("paqa_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAQA_CACHE", str(path))
        yield path
