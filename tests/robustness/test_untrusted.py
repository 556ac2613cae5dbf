"""Weights from elsewhere: never unpickled, always checked against the registry's sha256, and a
mismatch is an error, never a fallback to another network or to the unfiltered image."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from rcodec.codec import container
from rcodec.codec.bpg import encode_bpg
from rcodec.errors import RcodecError
from rcodec.postfilter import registry
from rcodec.postfilter.pipeline import decode_bytes
from rcodec.postfilter.weights import load_weights


class Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickled_weights_are_never_unpickled(writer: str, tmp_path: Path) -> None:
    marker, weights = tmp_path / "code-ran", tmp_path / "net.pt"
    if writer == "pickle":
        weights.write_bytes(pickle.dumps({"conv.weight": Payload(marker)}))
    else:
        torch.save({"conv.weight": Payload(marker)}, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    with pytest.raises(RcodecError, match="not a readable safetensors file"):
        load_weights(weights, digest)  # even with the right hash: only safetensors is parsed
    assert not marker.exists()


def test_a_registry_hash_mismatch_stops_the_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = registry.load_registry()
    if not entries:
        pytest.skip("no registered post-filter")
    entry = next(e for e in entries if e.codec == "bpg" and e.channels == "rgb")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 48, 3), np.uint8)
    data = container.pack(entry.selector, encode_bpg(image, qp=40, level=1))
    assert decode_bytes(data).shape == (32, 48, 3)
    tampered = [dataclasses.replace(e, sha256="0" * 64) if e.name == entry.name else e
                for e in entries]
    monkeypatch.setattr(registry, "load_registry", lambda: tampered)
    with pytest.raises(RcodecError, match="sha256 mismatch"):
        decode_bytes(data)
