"""BPG's pixel pipeline, bit-exact with the reference tools: colour conversion and chroma filters.

The encoder converts RGB to YCbCr (or YCgCo, or keeps RGB) in fixed point, decimates chroma
with 10- or 15-tap filters and pads the planes; the decoder upsamples chroma with 7- or 8-tap
filters and converts back. Integer rounding, intermediate precision and edge handling follow
libbpg exactly, so that decoded pixels match `bpgdec` to the last bit.
"""

from __future__ import annotations

import numpy as np

# Colour spaces as the BPG header numbers them.
YCBCR, RGB, YCGCO, YCBCR_BT709, YCBCR_BT2020 = range(5)
_KR_KB = {YCBCR: (0.299, 0.114), YCBCR_BT709: (0.2126, 0.0722), YCBCR_BT2020: (0.2627, 0.0593)}

# Decimation: chroma between luma samples (JPEG siting) and co-sited (MPEG-2 siting).
_DECIMATE_MID = (2, -4, -8, 17, 57, 57, 17, -8, -4, 2)  # over 2i-4 .. 2i+5
_DECIMATE_COSITED = (-1, 0, 4, 0, -11, 0, 40, 64, 40, 0, -11, 0, 4, 0, -1)  # over 2i-7 .. 2i+7
# Interpolation: even / odd output from 7 samples k-3 .. k+3; co-sited odd from k-3 .. k+4.
_INTERP_EVEN = (2, -6, 18, 57, -10, 4, -1)
_INTERP_ODD = (-1, 4, -10, 57, 18, -6, 2)
_INTERP_COSITED = (-1, 4, -11, 40, 40, -11, 4, -1)


def _fir(x: np.ndarray, taps: tuple[int, ...], first: int, step: int, count: int,
         axis: int) -> np.ndarray:
    """out[i] = sum_t taps[t] * x[clip(step*i + first + t)] along `axis` (edges replicated)."""
    x = np.moveaxis(x, axis, 0)
    n = x.shape[0]
    before = max(0, -first)
    after = max(0, step * (count - 1) + first + len(taps) - n)
    if before or after:
        x = np.concatenate([np.repeat(x[:1], before, 0), x, np.repeat(x[-1:], after, 0)])
    acc = np.zeros((count,) + x.shape[1:], np.int32)
    for t, coefficient in enumerate(taps):
        if coefficient:
            start = first + t + before
            acc += coefficient * x[start : start + step * (count - 1) + 1 : step]
    return np.moveaxis(acc, 0, axis)


def _clip(x: np.ndarray, bit_depth: int) -> np.ndarray:
    return np.clip(x, 0, (1 << bit_depth) - 1)


# --- encoder ----------------------------------------------------------------------------------


def rgb_to_planes(rgb: np.ndarray, in_bit_depth: int, bit_depth: int, color_space: int,
                  limited_range: bool) -> list[np.ndarray]:
    """Convert HxWx3 RGB samples to three full-resolution planes as `bpgenc` does."""
    shift = 31 - bit_depth
    in_max = (1 << in_bit_depth) - 1
    out_max = (1 << bit_depth) - 1
    mult = out_max * float(1 << shift) / in_max
    if limited_range:
        mult_y = (219 << (bit_depth - 8)) * float(1 << shift) / in_max
        mult_c = (224 << (bit_depth - 8)) * float(1 << shift) / in_max
        y_offset = (1 << (shift - 1)) + (16 << (shift + bit_depth - 8))
    else:
        mult_y = mult_c = mult
        y_offset = 1 << (shift - 1)
    rnd = 1 << (shift - 1)
    center = 1 << (bit_depth - 1)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    if color_space == RGB:
        one = round(mult_y)
        return [(one * c + y_offset) >> shift for c in (g, b, r)]
    if color_space == YCGCO:
        c_quarter, c_half = round(0.25 * mult_y), round(0.5 * mult_y)
        t1, t2 = c_half * g, c_quarter * (r + b)
        return [_clip((t1 + t2 + y_offset) >> shift, bit_depth),
                _clip(((t1 - t2 + rnd) >> shift) + center, bit_depth),
                _clip(((c_half * (r - b) + rnd) >> shift) + center, bit_depth)]
    k_r, k_b = _KR_KB[color_space]
    k_g = 1 - k_r - k_b
    rows = [(k_r, k_g, k_b),
            (-0.5 * k_r / (1 - k_b), -0.5 * k_g / (1 - k_b), 0.5),
            (0.5, -0.5 * k_g / (1 - k_r), -0.5 * k_b / (1 - k_r))]
    y_c = [round(k * mult_y) for k in rows[0]]
    cb_c = [round(k * mult_c) for k in rows[1]]
    cr_c = [round(k * mult_c) for k in rows[2]]
    return [_clip((y_c[0] * r + y_c[1] * g + y_c[2] * b + y_offset) >> shift, bit_depth),
            _clip(((cb_c[0] * r + cb_c[1] * g + cb_c[2] * b + rnd) >> shift) + center,
                  bit_depth),
            _clip(((cr_c[0] * r + cr_c[1] * g + cr_c[2] * b + rnd) >> shift) + center,
                  bit_depth)]


def gray_to_plane(gray: np.ndarray, in_bit_depth: int, bit_depth: int, limited_range: bool,
                  is_alpha: bool = False) -> np.ndarray:
    """Scale gray (or alpha: never limited range) samples to the coded bit depth."""
    shift = 31 - bit_depth
    in_max = (1 << in_bit_depth) - 1
    if limited_range and not is_alpha:
        one = round((219 << (bit_depth - 8)) * float(1 << shift) / in_max)
        offset = (1 << (shift - 1)) + (16 << (shift + bit_depth - 8))
    else:
        one = round(((1 << bit_depth) - 1) * float(1 << shift) / in_max)
        offset = 1 << (shift - 1)
    return (one * gray.astype(np.int64) + offset) >> shift


def decimate_420(plane: np.ndarray, bit_depth: int, cosited: bool) -> np.ndarray:
    """Halve chroma both ways: horizontal pass at 16-bit precision, then vertical, rounded."""
    h, w = plane.shape
    taps, first = (_DECIMATE_COSITED, -7) if cosited else (_DECIMATE_MID, -4)
    shift = bit_depth - 7
    horizontal = (_fir(plane, taps, first, 2, (w + 1) // 2, 1) + (1 << (shift - 1))) >> shift
    vertical = _fir(horizontal, _DECIMATE_MID, -4, 2, (h + 1) // 2, 0)
    shift = 21 - bit_depth
    return _clip((vertical + (1 << (shift - 1))) >> shift, bit_depth)


def decimate_422(plane: np.ndarray, bit_depth: int, cosited: bool) -> np.ndarray:
    """Halve chroma horizontally, rounded and clamped at the plane's bit depth."""
    taps, first = (_DECIMATE_COSITED, -7) if cosited else (_DECIMATE_MID, -4)
    return _clip((_fir(plane, taps, first, 2, (plane.shape[1] + 1) // 2, 1) + 64) >> 7,
                 bit_depth)


def pad_plane(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Replicate the last row and column out to height x width."""
    h, w = plane.shape
    return np.pad(plane, ((0, height - h), (0, width - w)), mode="edge")


# --- decoder ----------------------------------------------------------------------------------


def _interleave(even: np.ndarray, odd: np.ndarray, axis: int) -> np.ndarray:
    shape = list(even.shape)
    shape[axis] = even.shape[axis] + odd.shape[axis]
    out = np.empty(shape, np.int32)
    index = [slice(None)] * even.ndim
    index[axis] = slice(0, None, 2)
    out[tuple(index)] = even
    index[axis] = slice(1, None, 2)
    out[tuple(index)] = odd
    return out


def _upsample_h(samples: np.ndarray, width: int, cosited: bool, extra_bits: int,
                bit_depth: int) -> np.ndarray:
    """Double the width of samples that carry `extra_bits` of precision beyond `bit_depth`."""
    n_even, n_odd = (width + 1) // 2, width // 2
    shift = 6 + extra_bits
    if cosited:
        even = samples[:, :n_even]
        if extra_bits:
            even = (even + (1 << (extra_bits - 1))) >> extra_bits
        odd = _fir(samples, _INTERP_COSITED, -3, 1, n_odd, 1)
    else:
        even = (_fir(samples, _INTERP_EVEN, -3, 1, n_even, 1) + (1 << (shift - 1))) >> shift
        odd = _fir(samples, _INTERP_ODD, -3, 1, n_odd, 1)
    odd = (odd + (1 << (shift - 1))) >> shift
    return _clip(_interleave(even, odd, 1), bit_depth)


def upsample_420(chroma: np.ndarray, height: int, width: int, bit_depth: int,
                 cosited: bool) -> np.ndarray:
    """Full-resolution chroma from a 4:2:0 plane cropped to its valid ceil(h/2) x ceil(w/2).

    The vertical pass comes first and keeps 6 bits of filter gain at 8-bit scale.
    """
    chroma = chroma.astype(np.int32)
    even = _fir(chroma, _INTERP_EVEN, -3, 1, (height + 1) // 2, 0)
    odd = _fir(chroma, _INTERP_ODD, -3, 1, height // 2, 0)
    vertical = _interleave(even, odd, 0)
    shift = bit_depth - 8
    if shift:
        vertical = (vertical + (1 << (shift - 1))) >> shift
    return _upsample_h(vertical, width, cosited, 14 - bit_depth, bit_depth)


def upsample_422(chroma: np.ndarray, width: int, bit_depth: int, cosited: bool) -> np.ndarray:
    """Full-width chroma from a 4:2:2 plane cropped to its valid ceil(w/2) columns."""
    return _upsample_h(chroma.astype(np.int32), width, cosited, 0, bit_depth)


class OutputConverter:
    """The reference decoder's conversion of decoded planes to 8- or 16-bit RGB(A)."""

    def __init__(self, bit_depth: int, out_bit_depth: int, color_space: int,
                 limited_range: bool) -> None:
        self.bit_depth = bit_depth
        self.out_bit_depth = out_bit_depth
        self.color_space = color_space
        self.limited_range = limited_range
        self.shift = 30 - out_bit_depth
        in_max = (1 << bit_depth) - 1
        mult = ((1 << out_bit_depth) - 1) * float(1 << self.shift) / in_max
        if limited_range:
            mult_y = ((1 << out_bit_depth) - 1) * float(1 << self.shift) / (219 << (bit_depth - 8))
            mult_c = ((1 << out_bit_depth) - 1) * float(1 << self.shift) / (224 << (bit_depth - 8))
        else:
            mult_y = mult_c = mult
        self.c_one = round(mult)
        self.c_rnd = 1 << (self.shift - 1)
        self.center = 1 << (bit_depth - 1)
        if limited_range:
            self.y_one = round(mult_y)
            self.y_offset = -(16 << (bit_depth - 8)) * self.y_one + self.c_rnd
        else:
            self.y_one = self.c_one
            self.y_offset = self.c_rnd
        if color_space in _KR_KB:
            k_r, k_b = _KR_KB[color_space]
            self.c_r_cr = round(2 * (1 - k_r) * mult_c)
            self.c_g_cb = round(2 * k_b * (1 - k_b) / (1 - k_b - k_r) * mult_c)
            self.c_g_cr = round(2 * k_r * (1 - k_r) / (1 - k_b - k_r) * mult_c)
            self.c_b_cb = round(2 * (1 - k_b) * mult_c)

    @property
    def _dtype(self) -> type:
        return np.uint8 if self.out_bit_depth == 8 else np.uint16

    def _out(self, acc: np.ndarray) -> np.ndarray:
        return _clip(acc >> self.shift, self.out_bit_depth).astype(self._dtype)

    def _copy_through(self) -> bool:
        return self.bit_depth == 8 and self.out_bit_depth == 8 and not self.limited_range

    def luma(self, plane: np.ndarray) -> np.ndarray:
        """Gray or RGB-space plane to output samples."""
        if self._copy_through():
            return plane.astype(np.uint8)
        return self._out(plane.astype(np.int64) * self.y_one + self.y_offset)

    def alpha(self, plane: np.ndarray) -> np.ndarray:
        """Alpha plane to output samples (never limited range, no clamp in the reference)."""
        if self.bit_depth == 8 and self.out_bit_depth == 8:
            return plane.astype(np.uint8)
        return ((plane.astype(np.int64) * self.c_one + self.c_rnd) >> self.shift).astype(
            self._dtype)

    def rgb(self, y: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
        """Three full-resolution planes to HxWx3 RGB."""
        if self.color_space == RGB:
            return np.stack([self.luma(c2), self.luma(y), self.luma(c1)], axis=-1)
        wide = np.int32 if self._fits_int32() else np.int64
        y = y.astype(wide)
        cb = c1.astype(wide) - self.center
        cr = c2.astype(wide) - self.center
        if self.color_space == YCGCO:
            channels = [(y - cb + cr), (y + cb), (y - cb - cr)]
            return np.stack([self._out(c * self.y_one + self.y_offset) for c in channels], -1)
        y_val = y * self.y_one + self.y_offset
        return np.stack([self._out(y_val + self.c_r_cr * cr),
                         self._out(y_val - self.c_g_cb * cb - self.c_g_cr * cr),
                         self._out(y_val + self.c_b_cb * cb)], axis=-1)

    def _fits_int32(self) -> bool:
        if self.color_space not in _KR_KB:
            return False
        y_max = ((1 << self.bit_depth) - 1) * self.y_one + abs(self.y_offset)
        c_max = self.center * max(self.c_r_cr, self.c_b_cb, self.c_g_cb + self.c_g_cr)
        return y_max + c_max < 2**31


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Undo premultiplied alpha with the reference decoder's reciprocal tables."""
    if rgba.dtype == np.uint8:
        full, bits, bias = 255, 16, 128
    else:
        full, bits, bias = 65535, 15, 0
    alpha = rgba[..., 3].astype(np.int64)
    safe = np.maximum(alpha, 1)
    inverse = ((full << bits) + safe // 2 + bias) // safe
    out = rgba.copy()
    for c in range(3):
        value = rgba[..., c].astype(np.int64)
        divided = (value * inverse + (1 << (bits - 1))) >> bits
        out[..., c] = np.where(value >= alpha, full, divided)
    return out


def combine_w_plane(rgb: np.ndarray, w_plane: np.ndarray, bit_depth: int) -> np.ndarray:
    """Multiply colour by a W plane (alpha2 without alpha1) as the reference does."""
    combined = (rgb.astype(np.int64) * w_plane[..., None].astype(np.int64)
                + (1 << (bit_depth - 1))) >> bit_depth
    return combined.astype(rgb.dtype)
