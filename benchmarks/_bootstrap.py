"""Imported first by every benchmark script: drop this folder from sys.path.

Run as `python benchmarks/NAME.py`, the script's folder comes first on sys.path, and
`benchmarks/codec.py` would then shadow the `codec` package for every script here.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).parent.resolve()
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
