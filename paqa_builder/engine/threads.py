"""BLAS threads during a build: one per process, so results do not depend on the engine.

numpy's OpenBLAS splits a large matrix product differently on one thread than on several, and
the float sums come out a little different. Whisper's log-mel features go through such a product
(faster-whisper computes them with numpy), and on noisy speech that difference changes words:
measured on one espeak clip at 8 dB, "The" scored 0.364 with multi-threaded OpenBLAS and 0.323
with one thread, and a Ray build of the shipped sample differed from a local build in the words
of 9 of 10 clips. Ray starts its workers with ``OMP_NUM_THREADS`` set to the actor's CPUs (1 by
default), which OpenBLAS also obeys; a local build ran with one thread per core. Pinning BLAS to
one thread in every process that runs stages makes both engines compute the same thing, on any
number of cores. Stages already run concurrently (one thread or actor each), so the multi-threaded
products bought little.
"""

from __future__ import annotations

from typing import Any


def single_thread_blas() -> Any:
    """Limit every loaded BLAS library (numpy's and scipy's OpenBLAS, MKL) to one thread.

    Returns a ``threadpoolctl`` limiter: use it as a context manager around a local build, or keep
    a reference to it in a long-lived worker (the limit holds until ``restore_original_limits``).
    """
    import numpy  # noqa: F401  (load numpy's BLAS first, so that the limit reaches it)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
