"""rcodec: compress image datasets to a bit-rate target, restore them with learned post-filters."""

from rcodec.errors import RcodecError

__version__ = "0.1.0"
__all__ = ["RcodecError", "__version__"]
