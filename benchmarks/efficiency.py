"""Post-filter inference against this CPU's matmul peak: GFLOP/s and the fraction of peak.

  python benchmarks/efficiency.py [--networks default|all|NAME,NAME] [--size 768x512]
      [--repeats 3]

For each registered network (one entry per weights file: a self-ensemble runs the same
convolutions once per view), counts the multiply-adds of its convolutions on a WxH input with
forward hooks, times whole-image inference through `restore_array` at the network's registered
precision (the median of --repeats runs after warming up, as the decoder's calibration times),
and reports 2 x MACs / seconds. The peak is a square matmul in that precision, timed
in the same process right before and after each network, so that the ratio holds on a machine
whose load comes and goes. DCT-domain networks (whose input is a JPEG's coefficients) are left
out.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

from rcodec.postfilter import registry
from rcodec.postfilter.inference import (
    effective_precision,
    jfif_luma,
    load_model,
    restore_array,
    torch_threads,
)
from rcodec.postfilter.models import is_conditioned
from rcodec.postfilter.timing import calibration_image, median_seconds

MATMUL_SIDE = 2048


def convolution_macs(model: nn.Module, image: np.ndarray, quantizer: float | None) -> int:
    """Multiply-adds of every convolution and linear layer for one whole-image pass."""
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):  # each input element meets each kernel tap
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += inputs[0].numel() * module.out_channels // module.groups * kernel
        elif isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * module.in_channels // module.groups * kernel
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        restore_array(model, image, tile=max(image.shape[:2]), quantizer=quantizer)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def matmul_peak(precision: str, repeats: int) -> float:
    """FLOP/s of a square matmul in `precision` on all threads (median of `repeats`)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(MATMUL_SIDE, MATMUL_SIDE).to(dtype)
    b = torch.randn(MATMUL_SIDE, MATMUL_SIDE).to(dtype)
    return 2 * MATMUL_SIDE**3 / median_seconds(repeats, torch.matmul, a, b)


def network_input(kind: str, width: int, height: int) -> np.ndarray:
    """The bundled calibration photo, tiled to HxW, as the network takes it."""
    photo = calibration_image()
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1]), 1)
    rgb = np.tile(photo, reps)[:height, :width]
    return rgb if kind == "rgb" else jfif_luma(rgb)


def selected(names: str) -> list[registry.ModelEntry]:
    every = registry.load_registry()
    entries = [e for e in every if e.ensemble == 1]
    if names == "all":
        return entries
    if names == "default":
        weights = {e.weights for e in every if e.default}
        return [e for e in entries if e.weights in weights]
    wanted = names.split(",")
    return [e for e in entries if e.name in wanted]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="default",
                        help="default (the weights of every default network), all, or names")
    parser.add_argument("--size", default="768x512", help="WxH of the input")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    print(f"{torch.get_num_threads()} threads; {width}x{height} input, whole image")
    print(f"{'network':<26} {'prec':>4} {'GMAC':>7} {'seconds':>8} {'GFLOP/s':>8} "
          f"{'peak':>7} {'of peak':>7}")
    with torch_threads(None), torch.inference_mode():
        for entry in selected(args.networks):
            row = measure(entry, width, height, args.repeats)
            if row is not None:
                print(f"{entry.name:<26} {row['precision']:>4} {row['macs'] / 1e9:>7.2f} "
                      f"{row['seconds']:>8.3f} {row['flops'] / 1e9:>8.1f} "
                      f"{row['peak'] / 1e9:>7.1f} {row['flops'] / row['peak']:>7.1%}")


def measure(entry: registry.ModelEntry, width: int, height: int, repeats: int) -> dict | None:
    """MACs, seconds, FLOP/s and the matmul peak around them for one network on a WxH
    input (None for a DCT-domain network)."""
    model = load_model(entry)
    kind = getattr(model, "input_kind", "rgb")
    if kind not in ("rgb", "y"):
        return None
    precision = effective_precision(entry)
    quantizer = sum(entry.quantizer_range) / 2 if is_conditioned(model) else None
    image = network_input(kind, width, height)
    macs = convolution_macs(model, image, quantizer)

    peak = matmul_peak(precision, repeats)
    seconds = median_seconds(repeats, lambda: restore_array(
        model, image, tile=max(width, height), precision=precision, quantizer=quantizer))
    peak = max(peak, matmul_peak(precision, repeats))
    return {"precision": precision, "macs": macs, "seconds": seconds,
            "flops": 2 * macs / seconds, "peak": peak}


if __name__ == "__main__":
    main()
