"""Sub-commands of `rcodec`: each module has `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from rcodec.commands import codec_commands


@dataclasses.dataclass(frozen=True)
class CommandSpec:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS = [
    CommandSpec("encode", "encode one image to .bpg, .jpg or an .rcb container",
                codec_commands.add_encode_arguments, codec_commands.run_encode),
    CommandSpec("decode", "decode a .bpg, .jpg or .rcb file to PNG",
                codec_commands.add_decode_arguments, codec_commands.run_decode),
    CommandSpec("metrics", "compare two images: PSNR, MS-SSIM, SSIM, PSNR-B",
                codec_commands.add_metrics_arguments, codec_commands.run_metrics),
    CommandSpec("info", "print the header fields of a .bpg, .jpg or .rcb file",
                codec_commands.add_info_arguments, codec_commands.run_info),
]
