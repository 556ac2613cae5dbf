"""The decode pipeline: a .rcb container's codec bitstream, decoded, then its post-filter;
plain codec files (a .bpg, a .jpg, ...) decode as their codec alone.

Decoding a plain file or a container with selector 0 never imports torch: the post-filter
modules are loaded only when a selector names a network.
"""

from __future__ import annotations

import numpy as np

from rcodec.codec import container, registry
from rcodec.errors import FormatError
from rcodec.postfilter import registry as models


def decode_bytes(data: bytes, *, threads: int | None = None,
                 max_memory: int | None = None) -> np.ndarray:
    """Decode a plain codec file's or a container's bytes to the image the user sees (filter
    applied). `threads` and `max_memory` bound the post-filter's CPU threads and activation
    memory."""
    try:
        plain = registry.codec_for_bytes(data)
    except FormatError:
        plain = None
    if plain is not None:
        return plain.decode_image(data)
    parsed = container.unpack(data, models.known_selectors())
    decoded = container.codec_by_name(parsed.codec).decode(parsed.payload)
    if parsed.selector == container.NO_FILTER:
        return decoded
    # Imported here, not at the top: it loads torch, which codec-only decoding never needs.
    from rcodec.postfilter.inference import apply_filter

    return apply_filter(models.find(parsed.selector), decoded, parsed.payload,
                        threads=threads, max_memory=max_memory)
