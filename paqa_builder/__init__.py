"""PAQA builder: turn an audio collection into a Perception-Aware QA dataset."""

from . import numba_cache as _numba_cache

# before numba is imported anywhere: keep its cache out of the venv (see numba_cache.py)
_numba_cache.configure()
