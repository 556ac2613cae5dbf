"""Training a post-filter on (decoded, original) pairs, resumable after being killed.

Everything is written atomically and without pickle: weights and Adam's moments as
safetensors, scalars as JSON. Batches are drawn from an rng seeded by (seed, step), so a
resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from rcodec import metrics
from rcodec.codec.images import read_bytes
from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_bytes, atomic_write_text
from rcodec.postfilter.consistency import project_onto_intervals, project_tensor
from rcodec.postfilter.data import pair_source
from rcodec.postfilter.inference import restore_array, to_uint8, torch_threads
from rcodec.postfilter.layers import load_into_deeper
from rcodec.postfilter.losses import edge_emphasised_loss
from rcodec.postfilter.models import (
    accepts,
    build,
    input_kind,
    is_conditioned,
    parameter_count,
    receptive_radius,
)
from rcodec.postfilter.registry import find as find_model
from rcodec.postfilter.weights import (
    load_weights,
    parse_safetensors,
    read_metadata,
    save_weights,
    sha256_hex,
    tensors_to_bytes,
)

CHECKPOINT = "checkpoint.safetensors"
OPTIMIZER = "optimizer.safetensors"
#: The optimizer state of the checkpoint before, kept until the new weights are on disk.
PREVIOUS_OPTIMIZER = "optimizer.previous.safetensors"
STATE = "state.json"
BEST = "best.safetensors"
LOG = "log.csv"
REPORT = "report.json"
LOG_COLUMNS = ("step", "loss", "lr", "val_psnr", "val_psnr_codec")
DEFAULT_LR_HALVE_EVERY = 100_000

#: Config fields that may change when a run is resumed: all but the learning-rate schedule
#: leave what is learnt unchanged; the schedule may change so that a run that has stopped
#: improving can go on at a lower rate (log.csv records the rate of every logged step).
RESUMABLE_CHANGES = frozenset({"out_dir", "max_steps", "val_every", "checkpoint_every",
                               "log_every", "patience", "device", "progress", "threads",
                               "cache_dir", "lr_halve_every", "time_limit"})


@dataclasses.dataclass
class TrainConfig:
    """One training run. Steps count optimizer updates; `patience` counts validations
    without a new best PSNR before stopping early (0: never stop early)."""

    arch: str
    codec: str
    quantizer: int
    data_dir: str
    val_dir: str
    out_dir: str
    batch_size: int = 16
    crop: int = 96
    lr: float = 1e-3
    #: None: the resumed run's own period (DEFAULT_LR_HALVE_EVERY for a new run).
    lr_halve_every: int | None = None
    max_steps: int = 300_000
    val_every: int = 1_000
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    downscale: int = 1
    checkpoint_every: int = 1_000
    log_every: int = 100
    val_crop: int | None = 256
    arch_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: "bf16": autocast forward and backward in bfloat16 (fp32 weights and optimizer), about
    #: twice as fast on CPUs with native bf16.
    precision: str = "fp32"
    #: Add the MSE of horizontal and vertical Sobel derivatives to the loss (Svoboda et al.'s
    #: edge-emphasised objective for L4/L8; usable with any network).
    edge_loss: bool = False
    #: JPEG luma networks: project the output onto the file's coefficient intervals before
    #: the loss and in validation, as decoding does (postfilter.consistency), so that the
    #: network learns what the projection leaves to it. Crops then lie on the block grid.
    consistency: bool = False
    #: Crop origins (and validation windows) on multiples of this: 8 puts the codec's block
    #: grid where decoding has it against the network's strides (PairDataset's `grid`).
    crop_grid: int = 1
    #: A multi-quality network: train on pairs at each of these quantizers (None: only at
    #: `quantizer`, which is then the lowest of them).
    quantizers: list[int] | None = None
    cache_dir: str | None = None
    #: Decodes made on another machine, instead of running the codec here ("{q}": the
    #: quantizer); see PairDataset.
    decoded_dir: str | None = None
    val_decoded_dir: str | None = None
    threads: int | None = None
    progress: bool = True
    #: Stop (validate, checkpoint, report) after this many seconds of wall time; resumable.
    time_limit: float | None = None
    #: Start from these weights instead of a random init (fine-tuning): a registered
    #: network's name (its weights verified) or a .safetensors file; part of the identity.
    init_weights: str | None = None

    def training_quantizers(self) -> list[int]:
        return sorted(self.quantizers) if self.quantizers else [self.quantizer]

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must share with the run that wrote the checkpoint."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in RESUMABLE_CHANGES}
        out["data_dir"] = str(Path(self.data_dir).resolve())
        out["val_dir"] = str(Path(self.val_dir).resolve())
        return json.loads(json.dumps(out))


@dataclasses.dataclass
class RunState:
    """Scalars of a run, saved with every checkpoint."""

    step: int = 0
    best_val_psnr: float = -math.inf
    best_step: int = 0
    bad_validations: int = 0
    #: The learning-rate period the run last trained with: a resume that names none keeps it
    #: (None in checkpoints written before it was recorded).
    lr_halve_every: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["best_val_psnr"] = _finite_or_none(self.best_val_psnr)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        best = data.get("best_val_psnr")
        return cls(step=int(data["step"]),
                   best_val_psnr=-math.inf if best is None else float(best),
                   best_step=int(data.get("best_step", 0)),
                   bad_validations=int(data.get("bad_validations", 0)),
                   lr_halve_every=_int_or_none(data.get("lr_halve_every")))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when present, else CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def learning_rate(config: TrainConfig, step: int,
                  factors: tuple[float, ...] | None = None) -> float:
    """Step decay: halved every `lr_halve_every` steps (step counts from 1).

    An architecture with its own schedule (`lr_factors` of the model, e.g. the conv-unit
    net's 1, 0.5, 0.1) gets config.lr x factors[k] in the k-th period of `lr_halve_every`
    steps, the last factor thereafter."""
    period = (step - 1) // (config.lr_halve_every or DEFAULT_LR_HALVE_EVERY)
    if factors:
        return config.lr * factors[min(period, len(factors) - 1)]
    return config.lr * 0.5 ** period


# --- optimizer state without pickle ---------------------------------------------------------


def optimizer_to_safetensors(optimizer: torch.optim.Optimizer, step: int) -> bytes:
    """Tensors of the optimizer's state flattened to 'state.<param>.<name>', everything else
    (param groups, non-tensor state) as JSON in the safetensors metadata."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    meta = {"step": str(step),
            "scalars": json.dumps({"state": scalars, "param_groups": state_dict["param_groups"]})}
    return tensors_to_bytes(tensors, meta)


def optimizer_from_safetensors(data: bytes, source: object) -> tuple[dict[str, Any], int]:
    """The optimizer state dict (for load_state_dict) and the step it was saved at."""
    tensors = parse_safetensors(data, source)
    meta = read_metadata(data)
    scalars = json.loads(meta["scalars"])
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in scalars["state"].items():
        state.setdefault(int(index), {}).update(values)
    groups = scalars["param_groups"]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}, int(meta["step"])


# --- checkpoints ------------------------------------------------------------------------------


def save_checkpoint(out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    run: RunState, config: TrainConfig) -> None:
    """Optimizer first, then the weights (whose metadata is the authoritative run state),
    then state.json, a readable mirror. Each write is atomic, and the previous optimizer
    state is kept aside first: a kill between the writes leaves weights and an optimizer
    state of the same step on disk, so a resumed run goes on exactly as an unbroken one."""
    opt_bytes = optimizer_to_safetensors(optimizer, run.step)
    _keep_previous(out_dir / OPTIMIZER, out_dir / PREVIOUS_OPTIMIZER)
    atomic_write_bytes(out_dir / OPTIMIZER, opt_bytes)
    meta = {"state": json.dumps(run.to_json()), "config": json.dumps(config.identity())}
    model_sha = save_weights(model, out_dir / CHECKPOINT, metadata=meta)
    mirror = {**run.to_json(), "config": config.identity(), "checkpoint_sha256": model_sha,
              "optimizer_sha256": sha256_hex(opt_bytes)}
    atomic_write_text(out_dir / STATE, json.dumps(mirror, indent=2) + "\n")


def _keep_previous(path: Path, previous: Path) -> None:
    """Atomically make `previous` a copy of `path` (a hard link where the disk allows)."""
    if not path.is_file():
        return
    link = previous.with_name(f".{previous.name}.link.tmp")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
        os.replace(link, previous)
    except OSError:
        link.unlink(missing_ok=True)
        atomic_write_bytes(previous, path.read_bytes())


def _identity_defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(TrainConfig)
            if f.default is not dataclasses.MISSING and f.name not in RESUMABLE_CHANGES}


def load_checkpoint(out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    config: TrainConfig) -> RunState | None:
    """Restore model and optimizer from `out_dir` if it holds a checkpoint of this config."""
    path = out_dir / CHECKPOINT
    if not path.is_file():
        return None
    data = path.read_bytes()
    meta = read_metadata(data)
    saved = json.loads(meta.get("config", "null"))
    if isinstance(saved, dict):  # fields added since the checkpoint was written: defaults
        saved = {k: v for k, v in {**_identity_defaults(), **saved}.items()
                 if k not in RESUMABLE_CHANGES}
    if saved != config.identity():
        changed = sorted(k for k in set(saved or {}) | set(config.identity())
                         if (saved or {}).get(k) != config.identity().get(k))
        raise RcodecError(f"{out_dir}: holds a run with a different configuration "
                          f"({', '.join(changed)}); use another out_dir")
    run = RunState.from_json(json.loads(meta["state"]))
    model.load_state_dict(parse_safetensors(data, path), strict=True)
    states = []
    for opt_path in (out_dir / OPTIMIZER, out_dir / PREVIOUS_OPTIMIZER):
        if opt_path.is_file():
            states.append((opt_path, *optimizer_from_safetensors(opt_path.read_bytes(),
                                                                 opt_path)))
    matching = [state for _, state, step in states if step == run.step]
    if matching:
        optimizer.load_state_dict(matching[0])
    elif states:
        opt_path, opt_state, opt_step = states[0]
        warnings.warn(f"{opt_path}: optimizer state is from step {opt_step}, weights from "
                      f"step {run.step} (killed while checkpointing); using it", stacklevel=2)
        optimizer.load_state_dict(opt_state)
    else:
        warnings.warn(f"{out_dir}: no optimizer state; Adam restarts", stacklevel=2)
    # A best.safetensors newer than the checkpoint (a kill after a new best, before the next
    # checkpoint) is not taken into the run state: the resumed run reaches that step again,
    # finds the same new best and writes it, and its patience count stays that of an
    # unbroken run.
    return run


def initial_weights(config: TrainConfig) -> dict[str, torch.Tensor]:
    """The weights a new run starts from: `init_weights` names a registered network of the
    run's architecture (weights checked against the registry) or a .safetensors file."""
    assert config.init_weights is not None
    source = config.init_weights
    if Path(source).suffix == ".safetensors":
        return parse_safetensors(read_bytes(source), source)
    entry = find_model(source)
    if entry.arch != config.arch:
        raise RcodecError(f"--init {source}: it is arch {entry.arch} {entry.config or ''}"
                          f", not the run's {config.arch} {config.arch_config or ''}")
    return load_weights(entry)


def load_initial_weights(model: nn.Module, state: dict[str, torch.Tensor],
                         config: TrainConfig) -> None:
    """Load `initial_weights` into `model`. The run's net may be that net grown deeper (more
    residual blocks via --arch-config): its new blocks then start as the identity
    (layers.load_into_deeper)."""
    try:
        load_into_deeper(model, state)
    except ValueError as error:
        arch = " ".join(filter(None, [config.arch, str(config.arch_config or "")]))
        raise RcodecError(f"--init {config.init_weights}: weights do not fit arch {arch} "
                          f"({error})") from None


# --- log --------------------------------------------------------------------------------------


class CsvLog:
    """log.csv: one row per logged step; on resume, rows past the checkpoint are dropped
    (they will be logged again), so steps never repeat."""

    def __init__(self, path: Path, resume_step: int) -> None:
        self.path = path
        rows = []
        if path.is_file():
            for row in csv.DictReader(io.StringIO(path.read_text())):
                try:
                    if int(row["step"]) <= resume_step and None not in row.values():
                        rows.append(row)
                except (TypeError, ValueError):
                    continue  # a line cut short by a kill
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, LOG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buffer.getvalue())

    def write(self, **row: Any) -> None:
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, LOG_COLUMNS, lineterminator="\n").writerow(
                {k: "" if row.get(k) is None else row[k] for k in LOG_COLUMNS})
            handle.flush()


# --- validation -------------------------------------------------------------------------------


#: A validation item: (network input, decoded, original[, interval plane]), or a
#: (decoded, original) pair.
ValItem = tuple[np.ndarray, ...]


def evaluate(model: nn.Module | None, pairs: list[ValItem],
             quantizers: list[int] | None = None) -> dict[str, float]:
    """Quality of the filtered (or, for None, unfiltered) images: pooled PSNR (the CLIC way:
    squared error over the whole set), mean MS-SSIM, and the mean of per-image PSNR and
    PSNR-B (the JPEG artifact-removal literature's way, shared/JPEG-NOTES.md).
    `quantizers`: each item's, told to a quantizer-conditioned model."""
    total_sse, samples, ssims, psnrs, psnr_bs = 0, 0, [], [], []
    for index, item in enumerate(pairs):
        net_input, decoded, original = item[:3] if len(item) >= 3 else (item[0], *item)
        if model is None:
            output = decoded
        else:
            quantizer = None if quantizers is None else quantizers[index]
            # A DCT-domain input covers whole blocks: crop the output to the image.
            restored = restore_array(model, net_input, threads=torch.get_num_threads(),
                                     quantizer=quantizer)
            restored = restored[: original.shape[0], : original.shape[1]]
            if len(item) == 4:  # decoding projects a JPEG luma net's output: so does this
                restored = project_onto_intervals(restored[..., 0], item[3])[..., None]
            output = to_uint8(restored)
        total_sse += metrics.sse(output, original)
        samples += original.size
        ssims.append(metrics.ms_ssim(output, original))
        psnrs.append(metrics.psnr(output, original))
        psnr_bs.append(metrics.psnr_b(output, original))
    return {"psnr": metrics.pooled_psnr(total_sse, samples), "ms_ssim": float(np.mean(ssims)),
            "psnr_mean": float(np.mean(psnrs)), "psnr_b_mean": float(np.mean(psnr_bs))}


# --- the loop ---------------------------------------------------------------------------------


def train(config: TrainConfig) -> Path:
    """Train (or resume) a run; return the path of its best weights, out_dir/best.safetensors.

    Writes checkpoint.safetensors, optimizer.safetensors and state.json every
    `checkpoint_every` steps, best.safetensors on each validation improvement, log.csv as it
    goes, and report.json (filtered vs unfiltered PSNR and MS-SSIM on validation) at the end.
    """
    probe = build(config.arch, **config.arch_config)  # a bad architecture or option fails first
    out_dir = Path(config.out_dir)
    initial = None  # read once, and checked before any pair is made
    if config.init_weights is not None and not (out_dir / CHECKPOINT).is_file():
        initial = initial_weights(config)
        load_initial_weights(probe, initial, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    cache = config.cache_dir
    # "rgb" pairs, or luma / DCT-domain pairs of grayscale JPEGs for the Y networks.
    channels = input_kind(config.arch)
    if config.consistency and (channels != "y" or config.codec != "jpeg"):
        raise RcodecError(f"consistency training is for JPEG luma networks, not a "
                          f"{config.codec} {channels} one ({config.arch})")
    quantizers = config.training_quantizers()
    train_set = pair_source(config.data_dir, config.codec, quantizers, crop=config.crop,
                            cache_dir=cache, downscale=config.downscale, seed=config.seed,
                            channels=channels, decoded_dir=config.decoded_dir,
                            intervals=config.consistency, grid=config.crop_grid)
    val_set = pair_source(config.val_dir, config.codec, quantizers,
                          crop=8 if channels == "dct" or config.consistency else 1, cache_dir=cache,
                          downscale=config.downscale, augment=False, channels=channels,
                          decoded_dir=config.val_decoded_dir, intervals=config.consistency,
                          grid=config.crop_grid)
    val_pairs = val_set.validation_items(config.val_crop)
    val_quantizers = val_set.validation_quantizers()

    torch.manual_seed(config.seed)
    extra = {"rgb_mean": train_set.rgb_mean()} if accepts(config.arch, "rgb_mean") else {}
    model = build(config.arch, **extra, **config.arch_config).to(device)
    model = model.to(memory_format=torch.channels_last)  # faster convolutions on CPU
    # Architectures that come with a paper's recipe (the conv-unit net: beta1 0.8 and its
    # own lr steps) carry it; everything else trains with Adam's defaults and halving.
    betas = tuple(getattr(model, "adam_betas", (0.9, 0.999)))
    lr_factors = getattr(model, "lr_factors", None)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=betas)
    loss_function = edge_emphasised_loss if config.edge_loss else F.mse_loss
    run = load_checkpoint(out_dir, model, optimizer, config)
    if run is None:
        run = RunState()
        if initial is not None:
            load_initial_weights(model, initial, config)
    if config.lr_halve_every is None:
        config = dataclasses.replace(
            config, lr_halve_every=run.lr_halve_every or DEFAULT_LR_HALVE_EVERY)
    run.lr_halve_every = config.lr_halve_every
    log = CsvLog(out_dir / LOG, run.step)
    codec_psnr = evaluate(None, val_pairs)["psnr"]

    def stopping() -> bool:
        return bool(config.patience) and run.bad_validations >= config.patience

    bar = tqdm(total=config.max_steps, initial=min(run.step, config.max_steps),
               disable=not config.progress, desc=f"train {config.arch}", unit="step")
    losses: list[float] = []
    deadline = None if config.time_limit is None else time.monotonic() + config.time_limit
    with torch_threads(config.threads), bar:
        while run.step < config.max_steps and not stopping():
            if deadline is not None and time.monotonic() >= deadline:
                break
            run.step += 1
            lr = learning_rate(config, run.step, lr_factors)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            rng = np.random.default_rng([config.seed, run.step])
            inputs, targets, quantizers, intervals = train_set.labelled_batch(
                config.batch_size, rng)
            inputs, targets = (t.to(device).contiguous(memory_format=torch.channels_last)
                               for t in (inputs, targets))
            with torch.autocast(device.type, torch.bfloat16, enabled=config.precision == "bf16"):
                outputs = (model(inputs, quantizers.to(device)) if is_conditioned(model)
                           else model(inputs))
            outputs = outputs.float()
            if intervals is not None:
                outputs = project_tensor(outputs, intervals.to(device))
            loss = loss_function(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3g}")

            last = run.step == config.max_steps or (deadline is not None
                                                    and time.monotonic() >= deadline)
            val_psnr = None
            if run.step % config.val_every == 0 or last:
                val_psnr = evaluate(model, val_pairs, val_quantizers)["psnr"]
                if val_psnr > run.best_val_psnr:
                    run.best_val_psnr, run.best_step, run.bad_validations = val_psnr, run.step, 0
                    save_weights(model, out_dir / BEST,
                                 metadata={"step": str(run.step), "val_psnr": repr(val_psnr)})
                else:
                    run.bad_validations += 1
                bar.set_postfix(loss=f"{losses[-1]:.3g}", val_psnr=f"{val_psnr:.3f}")
            if run.step % config.log_every == 0 or last or val_psnr is not None or stopping():
                log.write(step=run.step, loss=f"{np.mean(losses):.6g}", lr=f"{lr:.6g}",
                          val_psnr=None if val_psnr is None else f"{val_psnr:.4f}",
                          val_psnr_codec=None if val_psnr is None else f"{codec_psnr:.4f}")
                losses.clear()
            if run.step % config.checkpoint_every == 0 or last or stopping():
                save_checkpoint(out_dir, model, optimizer, run, config)

    best_path = out_dir / BEST
    if not best_path.is_file():  # e.g. max_steps 0: the initial weights are the best known
        save_weights(model, best_path, metadata={"step": str(run.step)})
    write_report(out_dir, config, run, val_pairs, val_quantizers, device)
    return best_path


def write_report(out_dir: Path, config: TrainConfig, run: RunState,
                 val_pairs: list[ValItem], val_quantizers: list[int],
                 device: torch.device) -> Path:
    """report.json: validation quality of the best weights against the unfiltered codec."""
    model = build(config.arch, **config.arch_config)
    data = (out_dir / BEST).read_bytes()
    model.load_state_dict(parse_safetensors(data, out_dir / BEST), strict=True)
    model.to(device)
    filtered, codec = evaluate(model, val_pairs, val_quantizers), evaluate(None, val_pairs)
    report = {
        "arch": config.arch, "arch_config": config.arch_config,
        "params": parameter_count(model), "receptive_radius": receptive_radius(model),
        "codec": config.codec, "quantizer": config.quantizer,
        "quantizers": config.training_quantizers(), "steps": run.step,
        "best_step": run.best_step, "weights_sha256": sha256_hex(data),
        "val_images": len(val_pairs), "val_crop": config.val_crop,
        "val_psnr": _finite_or_none(filtered["psnr"]),
        "val_psnr_codec": _finite_or_none(codec["psnr"]),
        "val_psnr_gain": _finite_or_none(filtered["psnr"] - codec["psnr"]),
        "val_ms_ssim": filtered["ms_ssim"], "val_ms_ssim_codec": codec["ms_ssim"],
        # Per-image means, the JPEG literature's convention (val_psnr above is pooled).
        "val_psnr_mean": _finite_or_none(filtered["psnr_mean"]),
        "val_psnr_mean_codec": _finite_or_none(codec["psnr_mean"]),
        "val_psnr_b_mean": _finite_or_none(filtered["psnr_b_mean"]),
        "val_psnr_b_mean_codec": _finite_or_none(codec["psnr_b_mean"]),
        "channels": input_kind(config.arch),
        "rgb_mean": model.rgb_mean.flatten().tolist() if hasattr(model, "rgb_mean") else None,
    }
    path = out_dir / REPORT
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    return path
