"""Bit-level reading and writing shared by the BPG header and the HEVC parameter sets.

`ue7` is BPG's byte-oriented variable-length integer; `ue(v)` is HEVC's Exp-Golomb code.
NAL units carry emulation-prevention bytes that must be removed before bit parsing and
inserted again after bit writing.
"""

from __future__ import annotations

from rcodec.errors import FormatError

#: The reference decoder refuses ue7 values past this (a guard against size bombs).
UE7_MAX = (1 << 30) - 1


def read_ue7(data: bytes | memoryview, pos: int, what: str = "value") -> tuple[int, int]:
    """Decode one ue7 integer at `pos`; return (value, position after it)."""
    if pos >= len(data):
        raise FormatError(f"truncated {what}")
    first = data[pos]
    if first == 0x80:
        raise FormatError(f"non-canonical ue7 encoding of {what}")
    value = 0
    for index in range(pos, min(pos + 5, len(data))):
        byte = data[index]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            if value > UE7_MAX:
                raise FormatError(f"{what} {value} is too large")
            return value, index + 1
    if pos + 5 > len(data):
        raise FormatError(f"truncated {what}")
    raise FormatError(f"{what} is too large")


def write_ue7(value: int) -> bytes:
    """Encode a non-negative integer as ue7."""
    if not 0 <= value <= UE7_MAX:
        raise ValueError(f"ue7 value {value} out of range")
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


class BitReader:
    """MSB-first bit reader over an RBSP (emulation prevention already removed)."""

    def __init__(self, data: bytes, what: str = "bitstream") -> None:
        self._value = int.from_bytes(data, "big")
        self._size = len(data) * 8
        self.pos = 0
        self._what = what

    def u(self, bits: int) -> int:
        if bits == 0:
            return 0
        if self.pos + bits > self._size:
            raise FormatError(f"truncated {self._what}")
        shift = self._size - self.pos - bits
        self.pos += bits
        return (self._value >> shift) & ((1 << bits) - 1)

    def flag(self) -> bool:
        return bool(self.u(1))

    def ue(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > 31:
                raise FormatError(f"invalid Exp-Golomb code in {self._what}")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Signed Exp-Golomb: 0, 1, -1, 2, -2, ..."""
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)

    def skip(self, bits: int) -> None:
        if self.pos + bits > self._size:
            raise FormatError(f"truncated {self._what}")
        self.pos += bits


class BitWriter:
    """MSB-first bit writer producing an RBSP."""

    def __init__(self) -> None:
        self._value = 0
        self.bits = 0

    def u(self, bits: int, value: int) -> None:
        if value < 0 or value >> bits:
            raise ValueError(f"{value} does not fit in {bits} bits")
        self._value = (self._value << bits) | value
        self.bits += bits

    def flag(self, value: bool) -> None:
        self.u(1, int(bool(value)))

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(length - 1, 0)
        self.u(length, code)

    def align_zero(self) -> bytes:
        """Pad with zero bits to a byte boundary and return the bytes."""
        pad = -self.bits % 8
        return (self._value << pad).to_bytes((self.bits + pad) // 8, "big")

    def rbsp_trailing(self) -> bytes:
        """Append the RBSP stop bit, pad to a byte boundary and return the bytes."""
        self.u(1, 1)
        return self.align_zero()


def remove_emulation_prevention(nal: bytes) -> bytes:
    """Turn a NAL unit payload into its RBSP (drop the 0x03 after every 0x00 0x00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00") if b"\x00\x00\x03" in nal else nal


def add_emulation_prevention(rbsp: bytes) -> bytes:
    """Insert 0x03 wherever two zero bytes are followed by a byte <= 3."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def split_annexb(stream: bytes) -> list[tuple[bytes, bytes]]:
    """Split an Annex B byte stream into (start code, NAL unit) pairs.

    A zero byte just before `00 00 01` belongs to a 4-byte start code, as in the reference tools.
    """
    units = []
    pos = stream.find(b"\x00\x00\x01")
    while pos >= 0:
        start_code = b"\x00\x00\x00\x01" if pos > 0 and stream[pos - 1] == 0 else b"\x00\x00\x01"
        start = pos + 3
        nxt = stream.find(b"\x00\x00\x01", start)
        end = len(stream) if nxt < 0 else nxt
        if nxt >= 0 and stream[nxt - 1] == 0:
            end -= 1
        units.append((start_code, stream[start:end]))
        pos = nxt
    return units
