"""The JPEG artifact-removal networks of the literature, one small module each.

Conventions shared with the BPG post-filters (postfilter/models.py): a network maps a batch
N x C x H x W on the [0, 1] scale to an output of the same size, and answers for its own
`receptive_radius()` (pixels each side that reach one output pixel), so that overlap-save
tiling (postfilter/inference.py) reproduces whole-image inference. Class attributes tell the
rest of rcodec what a network needs:

- `input_kind`: "y" (one luma plane), "rgb" (three colour channels) or "dct" (the luma
  plane's dequantised DCT coefficients laid out in their 8x8 block positions, divided by
  255; see postfilter/dct.py);
- `alignment()` (optional): window origins must be multiples of it (strided layers sample a
  fixed grid, so a tile must start on that grid to see the same samples as the whole image);
- `adam_betas`, `lr_factors` (optional): the training recipe a paper prescribes (see
  postfilter/train.py).

Hidden layers use "same" zero padding unless a paper's design says otherwise, so outputs
keep the input's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rcodec.errors import RcodecError
from rcodec.postfilter.dct import basis_images
from rcodec.postfilter.layers import conv
from rcodec.postfilter.layers import receptive_radius as _radius


def fan_in(layer: nn.Conv2d | nn.ConvTranspose2d) -> float:
    """Inputs that reach one output sample: in_channels x taps, and for a transposed
    convolution only the taps that land on one output, taps / stride^2 (torch's own fan for
    transposed convolutions counts out_channels instead, which overstates a 64 -> 1 layer's
    gain by 64x)."""
    taps = math.prod(layer.kernel_size)
    if isinstance(layer, nn.ConvTranspose2d):
        return layer.in_channels * taps / math.prod(layer.stride)
    return layer.in_channels // layer.groups * taps


@torch.no_grad()
def he_init_(module: nn.Module) -> nn.Module:
    """He normal init (std sqrt(2 / fan_in), for ReLU), zero bias, of every convolution and
    transposed convolution in `module`."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            init_layer_(layer, gain=math.sqrt(2.0))
    return module


@torch.no_grad()
def init_layer_(layer: nn.Conv2d | nn.ConvTranspose2d, gain: float) -> None:
    """Normal weights of std gain / sqrt(fan_in), zero bias: gain sqrt(2) before a ReLU,
    sqrt(2 / (1 + a^2)) before a PReLU of slope a, 1 before nothing (variance-preserving)."""
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in(layer)))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


@torch.no_grad()
def zero_mean_filters_(module: nn.Module) -> nn.Module:
    """Svoboda et al.'s "symmetric" init: each filter (one output map's weights over all its
    inputs and taps) has its mean subtracted, so at init no filter responds to flat areas."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            layer.weight -= layer.weight.mean(dim=(1, 2, 3), keepdim=True)
    return module


#: Scale of a residual network's last layer at init.
LAST_LAYER_SCALE = 0.1


@torch.no_grad()
def _shrink_(layer: nn.Conv2d, scale: float = LAST_LAYER_SCALE) -> None:
    """Scale a residual net's last layer down at init, so that the net starts close to the
    identity (the decoded image, already a good estimate) rather than adding He-scaled noise
    to it; filters stay zero-mean."""
    layer.weight *= scale


class ArCnn(nn.Module):
    """AR-CNN (Dong, Deng, Loy and Tang, ICCV 2015): feature extraction 64@9x9, feature
    enhancement 32@7x7, mapping 16@1x1, reconstruction 1@5x5; ReLU after the first three
    layers, linear output (image to image, no skip).

    9*9*64+64 + 7*7*64*32+32 + 32*16+16 + 5*5*16+1 = 106,561 parameters;
    receptive radius 4 + 3 + 0 + 2 = 9 (19x19).
    """

    input_kind = "y"

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(1, 64, 9), nn.ReLU(),
            conv(64, 32, 7), nn.ReLU(),
            conv(32, 16, 1), nn.ReLU(),
            conv(16, 1, 5),
        )
        he_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def receptive_radius(self) -> int:
        return _radius(self.body)

    def widest(self) -> int:
        return 64


class FastArCnn(nn.Module):
    """Fast AR-CNN (Dong et al. 2015; Yu, Dong, Loy and Tang 2016): 64@9x9 with stride 2,
    shrinking 32@1x1, mapping 32@7x7, expanding 64@1x1, then a 9x9 deconvolution with
    stride 2 back to full size (64(9)-32(1)-32(7)-64(1)-1(9), s = 2); ReLU after every layer
    but the last. The middle layers run at a quarter of the pixels, hence the speed.

    9*9*64+64 + 64*32+32 + 7*7*32*32+32 + 32*64+64 + 9*9*64+1 = 64,833 parameters.
    Receptive radius 4 + 2*3 + 4 = 14 (29x29) with windows aligned to the stride.
    """

    input_kind = "y"

    def __init__(self, stride: int = 2) -> None:
        super().__init__()
        if stride < 1:
            raise RcodecError(f"stride must be positive, got {stride}")
        self.stride = stride
        self.extract = nn.Conv2d(1, 64, 9, stride=stride, padding=4)
        self.middle = nn.Sequential(
            nn.ReLU(),
            conv(64, 32, 1), nn.ReLU(),
            conv(32, 32, 7), nn.ReLU(),
            conv(32, 64, 1), nn.ReLU(),
        )
        # Output y receives low-resolution sample i at tap y + 4 - stride * i, i.e. the kernel
        # is centred on stride * i like the strided input layer's; output_padding makes the
        # output stride * ceil(H / stride) >= H, cropped in forward().
        self.deconv = nn.ConvTranspose2d(64, 1, 9, stride=stride, padding=4,
                                         output_padding=stride - 1)
        he_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return self.deconv(self.middle(self.extract(x)))[..., :height, :width]

    def receptive_radius(self) -> int:
        # Output y <- samples i with |stride*i - y| <= 4 <- (mapping) samples i' within
        # _radius(middle) of i <- inputs within 4 of stride * i'.
        return 4 + self.stride * _radius(self.middle) + 4

    def alignment(self) -> int:
        return self.stride

    def widest(self) -> int:
        return 64


class PReLU(nn.PReLU):
    """Channel-wise PReLU that states its receptive radius (0: it is pointwise), which
    postfilter.layers.receptive_radius cannot assume of a module with parameters."""

    def receptive_radius(self) -> int:
        return 0


class ConvUnit(nn.Module):
    """conv 3x3 -> conv 1x1 + PReLU -> conv 3x3 + PReLU (the "conv unit")."""

    def __init__(self, in_ch: int, maps: int, shrink: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(in_ch, maps, 3),
            conv(maps, shrink, 1), PReLU(shrink),
            conv(shrink, maps, 3), PReLU(maps),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def receptive_radius(self) -> int:
        return _radius(self.body)


class ConvUnitNet(nn.Module):
    """The Fast-AR-CNN-based "conv unit" network: three units of [conv 3x3 -> conv 1x1 +
    PReLU -> conv 3x3 + PReLU], then conv 1x1, conv 5x5 and a PReLU on the output. Trained
    with MSE and Adam (beta1 0.8), lr 1e-3, then 5e-4, then 1e-4 (`adam_betas`,
    `lr_factors`). The spec gives no widths; Fast AR-CNN's 64 maps shrunk to 32 by the 1x1
    layers are the defaults. Channel-wise PReLU (He et al. 2015's default).

    64/32 maps: unit 1 = 9*64+64 + 64*32+32 + 32 + 9*32*64+64 + 64 = 21,312; units 2, 3
    = 9*64*64+64 + 2,080 + 32 + 18,496 + 64 = 57,600 each; head 64*32+32 + 5*5*32+1 + 1 =
    2,882; 139,394 parameters. Receptive radius 3 * (1 + 0 + 1) + 0 + 2 = 8 (17x17).
    """

    input_kind = "y"
    adam_betas = (0.8, 0.999)
    #: lr = config.lr x factor, factor i applying in the i-th period of lr_halve_every steps
    #: (the last thereafter): 1e-3, 5e-4, 1e-4 with the default lr.
    lr_factors = (1.0, 0.5, 0.1)

    def __init__(self, maps: int = 64, shrink: int = 32, units: int = 3) -> None:
        super().__init__()
        if units < 1 or maps < 1 or shrink < 1:
            raise RcodecError(f"bad ConvUnitNet size: {units} units, {maps}/{shrink} maps")
        self.maps = maps
        self.body = nn.Sequential(
            *(ConvUnit(1 if i == 0 else maps, maps, shrink) for i in range(units)),
            conv(maps, shrink, 1),
            conv(shrink, 1, 5),
            PReLU(1),
        )
        # He init per layer for what follows it: half of this net's convolutions feed
        # another convolution directly, where ReLU's gain of 2 in variance would compound
        # (an output RMS of about 3 on [0, 1] images, measured).
        layers = [m for m in self.body.modules() if isinstance(m, nn.Conv2d | nn.PReLU)]
        for layer, after in zip(layers, [*layers[1:], None], strict=True):
            if isinstance(layer, nn.Conv2d):
                prelu = isinstance(after, nn.PReLU)
                init_layer_(layer, math.sqrt(2.0 / (1.0 + 0.25**2)) if prelu else 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def receptive_radius(self) -> int:
        return _radius(self.body)

    def widest(self) -> int:
        return self.maps


class L4(nn.Module):
    """L4 (Svoboda, Hradis, Barina and Zemcik, WSCG 2016): 48@11x11, 64@3x3, 64@3x3, 1@5x5,
    ReLU between layers; residual objective (output = input + predicted correction) and
    "symmetric" (zero-mean filter) init. Receptive field 19x19 (radius 5 + 1 + 1 + 2 = 9).

    11*11*48+48 + 3*3*48*64+64 + 3*3*64*64+64 + 5*5*64+1 = 72,097 parameters.
    """

    input_kind = "y"

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(1, 48, 11), nn.ReLU(),
            conv(48, 64, 3), nn.ReLU(),
            conv(64, 64, 3), nn.ReLU(),
            conv(64, 1, 5),
        )
        zero_mean_filters_(he_init_(self))
        _shrink_(self.body[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)

    def receptive_radius(self) -> int:
        return _radius(self.body)  # the skip has radius 0

    def widest(self) -> int:
        return 64


class L8(nn.Module):
    """L8 (Svoboda et al. 2016): 32@11x11, 64@3x3, 64@3x3, 64@3x3 (+ the 32 maps of layer 1
    concatenated), 64@1x1, 64@5x5 (+ the 32 maps of layer 1 concatenated), 128@1x1, 1@5x5;
    ReLU between layers, residual objective, zero-mean filter init. Receptive field 25x25
    (radius 5 + 1 + 1 + 1 + 0 + 2 + 0 + 2 = 12 along the longest path; the concatenated
    layer-1 maps take shorter paths).

    3,904 + 18,496 + 36,928 + 36,928 + (96*64+64 = 6,208) + 102,464
    + (96*128+128 = 12,416) + 3,201 = 220,545 parameters.
    """

    input_kind = "y"

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = conv(1, 32, 11)
        self.trunk = nn.Sequential(
            conv(32, 64, 3), nn.ReLU(),
            conv(64, 64, 3), nn.ReLU(),
            conv(64, 64, 3), nn.ReLU(),
        )
        self.layer5 = conv(64 + 32, 64, 1)
        self.layer6 = conv(64, 64, 5)
        self.layer7 = conv(64 + 32, 128, 1)
        self.layer8 = conv(128, 1, 5)
        zero_mean_filters_(he_init_(self))
        _shrink_(self.layer8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = F.relu(self.layer1(x))
        h = self.trunk(first)
        h = F.relu(self.layer5(torch.cat([h, first], dim=1)))
        h = F.relu(self.layer6(h))
        h = F.relu(self.layer7(torch.cat([h, first], dim=1)))
        return x + self.layer8(h)

    def receptive_radius(self) -> int:
        return (_radius(self.layer1) + _radius(self.trunk) + _radius(self.layer5)
                + _radius(self.layer6) + _radius(self.layer7) + _radius(self.layer8))

    def widest(self) -> int:
        return 128


class BlockContextNet(nn.Module):
    """The block-context colour network: the restored 8x8 RGB block predicted from the block
    and its eight neighbours (a 24x24 RGB input), by five small fully convolutional layers
    without padding (5x5, 5x5, 5x5, 3x3, 3x3: 24 -> 20 -> 16 -> 12 -> 10 -> 8), ReLU
    between them, linear output.

    Being fully convolutional, predicting every block from its 24x24 context is the same as
    running the valid convolutions over the whole image once, which forward() does after
    padding the image by the 8-pixel context (edge replication: a border block's missing
    neighbours repeat its edge rather than turning black). `predict_blocks` is the 24x24 ->
    8x8 form. Maps 32, 32, 32, 16: 5*5*3*32+32 + 2 * (5*5*32*32+32) + 3*3*32*16+16 +
    3*3*16*3+3 = 58,755 parameters, the "about 58,000" of the design. Receptive radius 8.
    `residual=True` adds the input block (predicting the correction); the design predicts
    the block itself, the default.
    """

    input_kind = "rgb"
    #: Pixels of context each side: one neighbouring block.
    CONTEXT = 8

    def __init__(self, maps: Sequence[int] = (32, 32, 32, 16),
                 kernels: Sequence[int] = (5, 5, 5, 3, 3), residual: bool = False) -> None:
        super().__init__()
        maps, kernels = list(maps), list(kernels)
        if len(kernels) != len(maps) + 1 or sum(k - 1 for k in kernels) != 2 * self.CONTEXT:
            raise RcodecError(f"block-context kernels {kernels} must shrink 24x24 to 8x8 "
                              f"over len(maps) + 1 = {len(maps) + 1} layers")
        widths = [3, *maps, 3]
        layers: list[nn.Module] = []
        for i, k in enumerate(kernels):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], k))  # valid: no padding
            if i < len(kernels) - 1:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)
        self.residual = residual
        self.maps = max(maps)
        he_init_(self)
        if residual:  # start near the identity: a He-scaled first correction kills ReLUs
            _shrink_(layers[-1])

    def predict_blocks(self, context: torch.Tensor) -> torch.Tensor:
        """N x 3 x (H + 16) x (W + 16) context -> N x 3 x H x W (24x24 -> one 8x8 block)."""
        out = self.body(context)
        if self.residual:
            c = self.CONTEXT
            out = out + context[..., c:-c, c:-c]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.CONTEXT
        return self.predict_blocks(F.pad(x, (c, c, c, c), mode="replicate"))

    def receptive_radius(self) -> int:
        return _radius(self.body)

    def widest(self) -> int:
        return self.maps


def _coded_masks() -> torch.Tensor:
    """64 one-hot 8x8 masks: mask k = 8u + v picks coefficient (u, v) of every block."""
    return torch.eye(64).view(64, 1, 8, 8)


class HrCnnResidualBlock(nn.Module):
    """64@11x11 -> 16@7x7 -> 1@1x1 (ReLU between), added to the block's input."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(1, 64, 11), nn.ReLU(),
            conv(64, 16, 7), nn.ReLU(),
            conv(16, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)

    def receptive_radius(self) -> int:
        return _radius(self.body)


class HrCnn(nn.Module):
    """HR-CNN (Niu 2020, "End-to-end JPEG decoding and artifacts suppression using
    heterogeneous residual CNN"): decodes the luma plane straight from its DCT coefficients.

    Input: N x 1 x 8By x 8Bx, block (by, bx)'s dequantised coefficients at rows 8by..8by+7,
    columns 8bx..8bx+7 ([u, v] = vertical, horizontal frequency), divided by 255 (see
    postfilter/dct.py). Spectrum decomposition: 64 fixed coded-mask 8x8 stride-8
    convolutions split the spectral channels (a buffer, not trained); an 8x8 stride-8
    transposed convolution (64 -> 64) restores them to full size; conv 5x5 -> 8 and conv 3x3
    -> 1, each + ReLU, decode to pixels; four residual blocks of 64@11x11 -> 16@7x7 -> 1@1x1
    sharpen; ReLU on the output. Output N x 1 x 8By x 8Bx pixels on [0, 1]. By default the
    weights start as a plain JPEG decoder (see `_init_as_decoder`); decoder_init=False gives
    a random (He) init.

    Parameters: 64*64*8*8+64 = 262,208 (transposed conv) + 5*5*64*8+8 = 12,808 + 3*3*8+1 = 73
    + 4 * (11*11*64+64 + 7*7*64*16+16 + 16+1 = 58,017) = 507,157 (the masks are fixed).
    Receptive radius 42 on the coefficient grid, windows aligned to 8: an output pixel sees
    pixel-domain features within 2 + 1 + 4 * (5 + 3) = 35, each computed from its own whole
    block, which reaches at most 7 further.
    """

    input_kind = "dct"
    BLOCKS = 4
    #: Scale of the random weights of the decoding layers under `decoder_init`.
    NOISE = 1e-4

    def __init__(self, decoder_init: bool = True) -> None:
        super().__init__()
        # Fixed, and rebuilt on construction, so not saved with the weights.
        self.register_buffer("masks", _coded_masks(), persistent=False)
        self.restore = nn.ConvTranspose2d(64, 64, 8, stride=8)
        self.decode = nn.Sequential(conv(64, 8, 5), nn.ReLU(), conv(8, 1, 3), nn.ReLU())
        self.sharpen = nn.Sequential(*(HrCnnResidualBlock() for _ in range(self.BLOCKS)))
        he_init_(self)
        if decoder_init:
            self._init_as_decoder()

    @torch.no_grad()
    def _init_as_decoder(self) -> None:
        """Start as a plain JPEG decoder (float IDCT, level shift, clamp at 0), plus small
        random weights to break symmetry.

        Why: from a random init the ReLUs of this all-ReLU decoder tend to die (a zero
        output is an easy minimum of MSE on [0, 1] images; measured here, HR-CNN collapsed
        to a black image within 10 steps). Started as a decoder, it trains from the codec's
        own output. Transposed conv: spectral channel k = 8u + v -> the IDCT basis image of
        coefficient (u, v) in output channel k; conv 5x5: channel 0 sums the 64 channels
        (centre tap) plus the +128/255 level shift; conv 3x3: passes channel 0 through;
        each residual block's last layer starts at zero (the identity).
        """
        images = torch.from_numpy(basis_images())
        self.restore.weight.mul_(self.NOISE)
        self.restore.weight[torch.arange(64), torch.arange(64)] += images
        self.restore.bias.zero_()
        first, last = self.decode[0], self.decode[2]
        first.weight.mul_(self.NOISE)
        first.weight[0, :, 2, 2] += 1.0
        first.bias[0] = 128.0 / 255.0
        last.weight.mul_(self.NOISE)
        last.weight[0, 0, 1, 1] += 1.0
        for block in self.sharpen:
            block.body[-1].weight.zero_()
            block.body[-1].bias.zero_()

    def forward(self, coefficients: torch.Tensor) -> torch.Tensor:
        spectral = F.conv2d(coefficients, self.masks.to(coefficients.dtype), stride=8)
        decoded = self.decode(self.restore(spectral))
        return F.relu(self.sharpen(decoded))

    def receptive_radius(self) -> int:
        pixel = _radius(self.decode) + _radius(self.sharpen)
        return pixel + 7

    def alignment(self) -> int:
        return 8

    def widest(self) -> int:
        return 64


#: The JPEG networks by architecture name: (constructor, default keyword arguments), merged
#: into postfilter.models.ARCHITECTURES.
JPEG_ARCHITECTURES: dict[str, tuple[type[nn.Module], dict[str, object]]] = {
    "arcnn": (ArCnn, {}),
    "fast_arcnn": (FastArCnn, {}),
    "conv_unit": (ConvUnitNet, {}),
    "l4": (L4, {}),
    "l8": (L8, {}),
    "block_context": (BlockContextNet, {}),
    "hrcnn": (HrCnn, {}),
}

