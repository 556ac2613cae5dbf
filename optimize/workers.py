"""What a joblib worker running post-filters needs to know about its own memory.

loky restarts a worker whose resident memory has grown 300 MB past what it held after its
first task, taking that growth for a leak. A sweep or decode worker loads each network it is
asked for once and keeps it for the images after (tens of MB each, plus the allocator's high
water mark of one image's activations), so after its first filtered image it passes that mark
legitimately: loky then kills it with work pending, warns "A worker stopped while some jobs
were given to the executor", and a fresh worker imports torch and loads the networks again.
"""

from __future__ import annotations

from joblib.externals.loky import process_executor

#: Growth over a worker's first-task size that is still not a leak: every default network of
#: every codec resident at once, with room for a large image's activations.
RESIDENT_ALLOWANCE = 4 * 2**30


def allow_resident_networks() -> None:
    """Raise this process's loky leak threshold to RESIDENT_ALLOWANCE (a worker reads it at
    every check; in the parent, where no check runs, this changes nothing)."""
    # loky offers no public setting; if a release drops the attribute, workers only restart.
    if getattr(process_executor, "_MAX_MEMORY_LEAK_SIZE", RESIDENT_ALLOWANCE) < RESIDENT_ALLOWANCE:
        process_executor._MAX_MEMORY_LEAK_SIZE = RESIDENT_ALLOWANCE
