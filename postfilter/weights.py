"""Network weights on disk: safetensors only (no pickle, so a weight file cannot run code),
verified against a sha256 before they are parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save
from torch import nn

from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_bytes
from rcodec.postfilter.registry import ModelEntry, weights_dir


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensors_to_bytes(tensors: dict[str, torch.Tensor],
                     metadata: dict[str, str] | None = None) -> bytes:
    """safetensors bytes of contiguous CPU copies of `tensors` (shared storage is allowed)."""
    flat = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    return _st_save(flat, metadata=metadata)


def save_weights(model: nn.Module | dict[str, torch.Tensor], path: str | os.PathLike[str],
                 metadata: dict[str, str] | None = None) -> str:
    """Write a model's state dict (buffers included) atomically; return the file's sha256."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    data = tensors_to_bytes(state, metadata)
    atomic_write_bytes(path, data)
    return sha256_hex(data)


def parse_safetensors(data: bytes, source: object) -> dict[str, torch.Tensor]:
    """Tensors from safetensors bytes; a malformed file becomes an RcodecError naming it."""
    try:
        return _st_load(data)
    except (SafetensorError, ValueError, OSError) as error:
        raise RcodecError(f"{source}: not a readable safetensors file ({error})") from None


def read_metadata(data: bytes) -> dict[str, str]:
    """The string metadata stored in a safetensors header (empty when none)."""
    if len(data) < 8:
        raise RcodecError("safetensors file too short")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise RcodecError("safetensors header runs past the end of the file")
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError:
        raise RcodecError("safetensors header is not JSON") from None
    return dict(header.get("__metadata__") or {})


def weights_path(entry_or_path: ModelEntry | str | os.PathLike[str]) -> Path:
    """Where the weights are: a registry entry's file in the package folder, or a given path."""
    if isinstance(entry_or_path, ModelEntry):
        return weights_dir() / entry_or_path.weights
    return Path(entry_or_path)


def load_weights(entry_or_path: ModelEntry | str | os.PathLike[str],
                 expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """A state dict read from a registry entry's weight file or a path, checked first.

    The sha256 of the file's bytes is compared with `expected_sha256` (default: the entry's
    `sha256`) before anything is parsed; a mismatch raises RcodecError. The bytes checked
    are the bytes parsed, so the file cannot change in between.
    """
    if expected_sha256 is None:
        if not isinstance(entry_or_path, ModelEntry):
            raise RcodecError("load_weights needs the expected sha256 of a weight file path")
        expected_sha256 = entry_or_path.sha256
    path = weights_path(entry_or_path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RcodecError(f"{path}: cannot read weights ({error.strerror or error})") from None
    actual = sha256_hex(data)
    if actual != expected_sha256.lower():
        raise RcodecError(f"{path}: weights sha256 mismatch (expected {expected_sha256}, "
                          f"got {actual}); the file is corrupt or not the registered one")
    return parse_safetensors(data, path)
