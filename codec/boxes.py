"""ISO base media file format boxes (ISO/IEC 14496-12), as AVIF files and JPEG XL containers
hold them: just enough to find a picture's size or codestream without a full parser."""

from __future__ import annotations

from collections.abc import Iterator

from rcodec.errors import FormatError


def u32(data: bytes, offset: int) -> int:
    """The big-endian 32-bit word at `offset`; FormatError past the end."""
    if offset + 4 > len(data):
        raise FormatError("truncated header")
    return int.from_bytes(data[offset : offset + 4], "big")


def boxes(data: bytes, start: int, end: int, name: str) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box in data[start:end], in order. A size of 1
    means a 64-bit size follows, 0 means "to the end"; the box end is as declared (it may lie
    past `end` in a truncated file: the caller decides). `name` is the format, for errors."""
    pos = start
    while pos + 8 <= end:
        size, kind = u32(data, pos), data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise FormatError(f"{name} box {kind!r} is shorter than its header")
        yield kind, pos + header, pos + size
        pos += size
