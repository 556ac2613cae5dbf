"""Sub-commands of `rcodec`: each module has `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from rcodec.commands import (
    challenge_commands,
    codec_commands,
    job_commands,
    model_commands,
    train_command,
)


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
    CommandSpec("sweep", "encode every image at many quantizers and filters; write the table",
                job_commands.add_sweep_arguments, job_commands.run_sweep_command),
    CommandSpec("plan", "choose one quantizer and filter per image under the budgets",
                job_commands.add_plan_arguments, job_commands.run_plan),
    CommandSpec("compress", "sweep, plan and write one container per image plus a manifest",
                job_commands.add_compress_arguments, job_commands.run_compress),
    CommandSpec("decompress", "decode every container of a compressed folder to PNG",
                job_commands.add_decompress_arguments, job_commands.run_decompress),
    CommandSpec("evaluate", "pooled and mean PSNR, MS-SSIM of decoded images vs originals",
                job_commands.add_evaluate_arguments, job_commands.run_evaluate),
    CommandSpec("demo", "the quick start: compress, decompress and evaluate the samples",
                job_commands.add_demo_arguments, job_commands.run_demo),
    CommandSpec("models", "list the registered post-filter networks",
                model_commands.add_models_arguments, model_commands.run_models),
    CommandSpec("calibrate", "time each decode stage and network on this machine (s/MP)",
                model_commands.add_calibrate_arguments, model_commands.run_calibrate),
    CommandSpec("challenge", "challenge submissions: pack, check, score, table",
                challenge_commands.add_challenge_arguments, challenge_commands.run_challenge),
    CommandSpec("rd", "rate-distortion curves: fixed quantizer, plan, plan + post-filter",
                challenge_commands.add_rd_arguments, challenge_commands.run_rd),
    CommandSpec("jpeg-table", "the JPEG artifact-removal comparison table (Y, qualities 10-50)",
                model_commands.add_jpeg_table_arguments, model_commands.run_jpeg_table),
    CommandSpec("train", "train a post-filter network on pairs made with our codec",
                train_command.add_train_arguments, train_command.run_train),
]
