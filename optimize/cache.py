"""A content-addressed on-disk cache for sweep results, safe to kill and to share.

Entries are written atomically (temporary file, then rename), so a killed sweep never leaves a
half-written entry under its final name, and two processes filling the same cache at once
write identical content to the same names. Every entry carries a checksum; an entry that fails
it is treated as missing and recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from rcodec.fileio import atomic_write_bytes


def digest(value: Any) -> str:
    """A stable sha256 of a JSON-serialisable key (bytes are hashed as hex)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_encode)
    return hashlib.sha256(text.encode()).hexdigest()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot key on {type(value).__name__}")


def default_cache_root() -> Path:
    """$RCODEC_CACHE, or ~/.cache/rcodec."""
    return Path(os.environ.get("RCODEC_CACHE", Path.home() / ".cache" / "rcodec"))


class SweepCache:
    """Bitstreams and measurements keyed by what determines them."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get_bytes(self, key: str) -> bytes | None:
        """A stored blob, or None when absent or corrupt."""
        path = self._path(key, ".bin")
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            if len(data) >= 32 and hashlib.sha256(data[32:]).digest() == data[:32]:
                return data[32:]
        return None

    def put_bytes(self, key: str, payload: bytes) -> None:
        atomic_write_bytes(self._path(key, ".bin"), hashlib.sha256(payload).digest() + payload)

    def get_json(self, key: str) -> dict[str, Any] | None:
        """A stored record, or None when absent or corrupt."""
        path = self._path(key, ".json")
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text())
            body = record.get("body")
            if isinstance(body, dict) and record.get("sha256") == digest(body):
                return body
        return None

    def put_json(self, key: str, body: dict[str, Any]) -> None:
        record = {"sha256": digest(body), "body": body}
        atomic_write_bytes(self._path(key, ".json"), json.dumps(record).encode())
