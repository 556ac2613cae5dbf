"""rcodec: compress image datasets to a bit-rate target, restore them with learned post-filters.

The public API (see `rcodec.api`), at a glance:

- the dataset job: `compress`, `decompress`, `evaluate`, `sweep`, `plan`, `rd`;
- one image: `encode`, `decode`, `info`, `compare`;
- networks: `models`, `calibrate`, `train`, `jpeg_table`;
- challenge submissions: `pack_submission`, `check_submission`, `score_submission`,
  `qp_table`;
- `sample_images`: the bundled photographs, to try it on.

Importing rcodec registers the Pillow plugin (`Image.open("x.bpg")`). The API's names load
on first use: they bring in the layers below, and with them torch, which codec-only work
(`rcodec decode x.bpg`) never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rcodec import codec as _codec  # noqa: F401  (registers Pillow's BPG plugin)
from rcodec.errors import BudgetError, EncodeError, FormatError, RcodecError
from rcodec.version import __version__

__all__ = [
    "compress", "decompress", "evaluate", "sweep", "plan", "rd",
    "encode", "decode", "info", "compare",
    "models", "calibrate", "train", "jpeg_table",
    "pack_submission", "check_submission", "score_submission", "qp_table", "sample_images",
    "CompressResult", "Scores", "SweepTable", "PlanResult", "RdResult",
    "RcodecError", "FormatError", "EncodeError", "BudgetError", "__version__",
]

#: The names served by rcodec.api (everything above but the errors and the version).
_API = frozenset(__all__[:-5])

if TYPE_CHECKING:
    from rcodec.api import (
        CompressResult,
        PlanResult,
        RdResult,
        Scores,
        SweepTable,
        calibrate,
        check_submission,
        compare,
        compress,
        decode,
        decompress,
        encode,
        evaluate,
        info,
        jpeg_table,
        models,
        pack_submission,
        plan,
        qp_table,
        rd,
        sample_images,
        score_submission,
        sweep,
        train,
    )


def __getattr__(name: str) -> Any:
    # The API module is imported on first use, not here: `import rcodec` stays light.
    if name in _API:
        from rcodec import api

        return getattr(api, name)
    raise AttributeError(f"module 'rcodec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
