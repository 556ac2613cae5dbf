"""A sweep or decode worker keeps its networks resident between images: loky must not take
that for a leak and restart the worker (with a warning, and torch and the networks loaded
again) while images are still queued."""

from __future__ import annotations

import os
import time
import warnings

from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor

from rcodec.optimize.workers import allow_resident_networks

_resident: list[bytes] = []


def _load_like_a_network(megabytes: int) -> int:
    """Grow this worker's resident memory and keep it, as loading one more network does."""
    allow_resident_networks()
    _resident.append(b"\x01" * (megabytes * 2**20))
    time.sleep(1.1)  # loky checks a worker's memory at most once a second
    return os.getpid()


def test_workers_holding_networks_are_not_restarted_as_leaking() -> None:
    get_reusable_executor().shutdown(wait=True)  # fresh workers: first-task sizes taken here
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pids = Parallel(n_jobs=2, backend="loky")(
                delayed(_load_like_a_network)(160) for _ in range(8))
        # Without the allowance each worker passes loky's 300 MB mark by its fourth task.
        assert len(set(pids)) <= 2
        assert not [w for w in caught if "worker stopped" in str(w.message)]
    finally:
        get_reusable_executor().shutdown(wait=True)
