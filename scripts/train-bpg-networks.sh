#!/usr/bin/env bash
# The CPU training runs behind the shipped BPG post-filters, as run on the 2-core machine:
# one thread, bf16, checkpointed every 250 steps, stopped by a wall-time budget. Re-running a
# queue resumes its run from runs/ while that folder exists; a fresh machine has no runs/, so
# the next round of a network starts with --init from its last shipped weights instead.
# Usage: scripts/train-bpg-networks.sh QUEUE [MINUTES] [TRAIN_DIR] [VAL_DIR] [RUNS_DIR], QUEUE one
# of $queues below.
set -euo pipefail
queues="uq-ft, uq-ft2, uq-deep, uq-deep2, uqd-low, uqd-high, uqd-high2, uqd-mid, uqd-top, uqd-upper, uqd-upper-deep, uqd-mid-deep, uqd-upper-big, uqd-mid-big, uqd-q46, uqd-q46-low, uqd-upper-grow, uqd-upper-level or uqd-upper-grid"
queue=${1:?queue $queues}
minutes=${2:-100}
data=${3:-/tmp/bsds_train}            # bsds500 train+test
val=${4:-../shared/data/bsds500/val}
runs=${5:-runs}

train() {  # NAME ARCH QPS [extra options]
  local name=$1 arch=$2 qps=$3
  shift 3
  rcodec train --arch "$arch" --codec bpg --qp "$qps" --data "$data" --val "$val" \
    -o "$runs/$name" --precision bf16 --threads 1 --val-every 500 --checkpoint-every 250 \
    --patience 0 --crop 96 --batch-size 16 --time-limit "${minutes}min" "$@"
}

# The runs that go on from a shipped U-Net: its weights, in an architecture with BLOCKS residual
# blocks per level (more than the weights have: the new ones start as the identity).
uqd() {  # BLOCKS INIT NAME QPS [extra options]
  train "$3" UQ "$4" --init "$2" --arch-config "{\"blocks\": [$1]}" "${@:5}"
}

# bpg-uqd-30-51 and the specialists fine-tuned from it.
from_uqd() {  # INIT NAME QPS [extra options]
  uqd "2, 3, 4, 8" "$@"
}

# The specialists grown deeper in session 13, and what goes on from them.
deep_uqd() {  # INIT NAME QPS [extra options]
  uqd "2, 3, 6, 12" "$@"
}

# Session 13's round: a specialist grown to 2-3-6-12 blocks on crops of 128, a warm restart
# at 1e-4.
grow_uqd() {  # INIT NAME QPS
  deep_uqd "$@" --crop 128 --batch-size 9 --lr 1e-4 --lr-halve-every 1500
}

# Crops of 192 (as many pixels a step as 9 of 128) show the 1/8-scale level a 24x24 field
# instead of 16x16; a warm restart at half the growth rate.
big_crop_uqd() {  # INIT NAME QPS
  deep_uqd "$@" --crop 192 --batch-size 4 --lr 5e-5 --lr-halve-every 1500
}

case $queue in
  # Session 8: bpg-uq-30-48 (14,000 steps on pairs coded before the psnr tune became BPG's
  # default) fine-tuned on psnr-tune pairs at QP 30, 33, ..., 51, the whole range plans use.
  uq-ft)
    train bpg_uq_ft UQ 30:51:3 --init bpg-uq-30-48 --lr 2.5e-4 --lr-halve-every 2500
    ;;
  # It ships as bpg-uq-30-51 (best at step 10,203, the rate down to 1.6e-5). The next round
  # starts from it with a warm restart.
  uq-ft2)
    train bpg_uq_ft2 UQ 30:51:3 --init bpg-uq-30-51 --lr 1e-4 --lr-halve-every 4000
    ;;
  # Session 9: bpg-uq-30-51 grown deeper, blocks 1-2-2-4 -> 2-3-4-8 (its 12 new residual
  # blocks start as the identity, so the run starts at the shipped net's quality), on crops
  # of 128 (the same pixels per step as 16 of 96) so that the lower levels see more context.
  uq-deep)
    train bpg_uq_deep UQ 30:51:3 --init bpg-uq-30-51 --arch-config '{"blocks": [2, 3, 4, 8]}' \
      --crop 128 --batch-size 9 --lr 2e-4 --lr-halve-every 2000
    ;;
  # It ran 110 minutes (8,021 steps) and ships as bpg-uqd-30-51; the next round goes on from
  # it at a low rate. (At 5e-5 its validation PSNR fell, 26.8484 -> 26.8469 at step 500 and
  # 26.8444 at 1,000, and the run was stopped: the net sits in a minimum a larger rate leaves.)
  uq-deep2)
    from_uqd bpg-uqd-30-51 bpg_uq_deep2 30:51:3 --crop 128 --batch-size 9 \
      --lr 2e-5 --lr-halve-every 4000
    ;;
  # Session 11: the whole-range net misses +0.30 dB at the ends (QP 32 and 34, 43 and 46), so
  # two specialists start from it and spend its capacity on one end each (the QP plane stays
  # an input, so QPs between the trained ones are interpolated as before).
  uqd-low)
    from_uqd bpg-uqd-30-51 bpg_uqd_low 30:36:2 --crop 128 --batch-size 9 \
      --lr 5e-5 --lr-halve-every 2000
    ;;
  uqd-high)
    from_uqd bpg-uqd-30-51 bpg_uqd_high 42:48:2 --crop 128 --batch-size 9 \
      --lr 5e-5 --lr-halve-every 2000
    ;;
  # uqd-low ran 75 minutes (5,045 steps; validation 33.4055 -> 33.4609 dB at QP 30-36) and
  # ships as bpg-uqd-30-36. uqd-high did not move (25.4474 -> 25.4491 at step 500, 25.4462 at
  # 1,500; stopped): the whole-range net's loss already weights its QPs most. Its next try
  # trains on crops of 256, which let the lowest level (1/8 scale) see four times the
  # context it sees at 128, at a lower rate.
  uqd-high2)
    from_uqd bpg-uqd-30-51 bpg_uqd_high2 42:48:2 --crop 256 --batch-size 2 \
      --lr 2e-5 --lr-halve-every 2000
    ;;
  # It did not move either (25.4488 at step 500, 25.4482 at 1,000; stopped). Within QP 42-48
  # the loss is again dominated by the top QPs; the middle of the range
  # (QP 40 and 43, where plans at 0.15-0.3 bpp sit) gets its own specialist.
  uqd-mid)
    from_uqd bpg-uqd-30-51 bpg_uqd_mid 38:44:2 --crop 128 --batch-size 9 \
      --lr 5e-5 --lr-halve-every 2000
    ;;
  # uqd-mid ran 28 minutes (1,918 steps; validation 27.7681 -> 27.7770 dB at step 1,500, the
  # best) and ships as bpg-uqd-38-44. Re-running it resumes the run while runs/ exists:
  # session 12 resumed it to step 5,750 (best 27.7824 dB at 4,500, flat after), shipped as
  # bpg-uqd-38-44-v2.
  # Session 12: the top of the range again, with a warm restart at a higher rate (the runs at
  # 5e-5 and 2e-5 stayed in the whole-range net's minimum), on QP 44, 46 and 48.
  uqd-top)
    from_uqd bpg-uqd-30-51 bpg_uqd_top 44:48:2 --crop 128 --batch-size 9 \
      --lr 1e-4 --lr-halve-every 1500
    ;;
  # It fell (24.9531 at step 500, 24.9487 at 1,000, from 24.9550; stopped). But bpg-uqd-38-44,
  # never shown QP 46, gains more there than the whole-range net (25.1398 against 25.1352 dB
  # on the QP-46 validation crops): QP 48 is what holds the high runs back. So the next
  # specialist goes on from the mid one over QP 42-46, where plans at 0.1-0.2 bpp sit.
  uqd-upper)
    from_uqd bpg-uqd-38-44 bpg_uqd_upper 42:46:2 --crop 128 --batch-size 9 --lr 5e-5 \
      --lr-halve-every 2000
    ;;
  # uqd-upper ran 3,500 steps (validation 26.0069 -> 26.0128 dB at step 2,500, flat after;
  # stopped) and ships as bpg-uqd-42-46: +0.008 dB at QP 46 over the whole-range net.
  # Session 13: it is not short of data (on 40 training images it gains +0.263 dB at QP 46,
  # on 40 val images +0.278), so the next round grows it again, where high-QP artefacts need
  # reach: 2-3-4-8 -> 2-3-6-12 blocks (the 1/4 and 1/8 levels; about 1.25x the multiplies),
  # the new blocks starting as the identity.
  uqd-upper-deep)
    grow_uqd bpg-uqd-42-46 bpg_uqd_upper_deep 42:46:2
    ;;
  # The mid specialist grown the same way, for QP 40 and 43.
  uqd-mid-deep)
    grow_uqd bpg-uqd-38-44-v2 bpg_uqd_mid_deep 38:44:2
    ;;
  # Both fell first at 1e-4 and passed their sources after the first halving:
  # uqd-upper-deep 26.0128 -> 26.0218 dB on the QP 42-46 crops (best at its last step, 5,175,
  # stopped by the time limit) ships as bpg-uqd-42-46-deep; uqd-mid-deep 27.7824 -> 27.7908
  # on the QP 38-44 crops (best at its last validation, step 5,000; stopped) as
  # bpg-uqd-38-44-deep. Both still rose by about 0.001 dB per 500 steps at 1.25e-5.
  # Session 14: both deep specialists trained on larger crops from a warm restart.
  uqd-upper-big)
    big_crop_uqd bpg-uqd-42-46-deep bpg_uqd_upper_big 42:46:2
    ;;
  uqd-mid-big)
    big_crop_uqd bpg-uqd-38-44-deep bpg_uqd_mid_big 38:44:2
    ;;
  # Both fell at the restart (26.0139 and 27.7854 at step 500), passed their sources by step
  # 2,500 and were best at their last validation, stopped by the 92-minute limit:
  # uqd-upper-big 26.0218 -> 26.0285 dB on the QP 42-46 crops (step 4,992) ships as
  # bpg-uqd-42-46-deep-v2, uqd-mid-big 27.7908 -> 27.7975 on the QP 38-44 crops (step 4,921)
  # as bpg-uqd-38-44-deep-v2. Over their last 1,000 steps they rose 0.0011 and 0.0016 dB.
  # Session 15: QP 46 is still 0.015 dB short of +0.30. A specialist for the top of the
  # upper range alone (QP 45-47), from bpg-uqd-42-46-deep-v2, on crops of 256 (the 1/8 level
  # sees 32x32), a warm restart at 3e-5.
  uqd-q46)
    deep_uqd bpg-uqd-42-46-deep-v2 bpg_uqd_q46 45:47 --crop 256 --batch-size 2 --lr 3e-5 \
      --lr-halve-every 1500
    ;;
  # The same at a third of the rate, beside it: every warm restart so far first fell.
  uqd-q46-low)
    deep_uqd bpg-uqd-42-46-deep-v2 bpg_uqd_q46_low 45:47 --crop 256 --batch-size 2 --lr 1e-5 \
      --lr-halve-every 2000
    ;;
  # uqd-q46 fell first too (25.0879 -> 25.0814 dB on the QP 45-47 crops at step 1,000), then
  # rose after the halvings to 25.0911 at step 5,500 (stopped, rate 3.75e-6): on full images
  # +0.2769 / +0.2885 dB at QP 46 (one view / four) against bpg-uqd-42-46-deep-v2's +0.2743 /
  # +0.2850, too little to ship 25 MB more weights for. uqd-q46-low fell and stayed below
  # (25.0865 at 1,000; stopped). Resuming uqd-upper-big at 6.25e-6 stayed flat (26.0285 at
  # 6,500). The top of the range needs capacity, not more steps of these nets.
  # Session 18: so the upper specialist grows again where its reach is, 2-3-6-12 -> 2-3-8-16
  # blocks (the 1/4- and 1/8-scale levels; the new blocks start as the identity), on crops of
  # 192 from a warm restart, as uqd-upper-big. Session 19 resumed it
  # from step 500 to 2,769 (one core, 125 minutes): validation 26.0179 at 500, 26.0191 at
  # 1,000, 26.0216 at 1,500, 26.0256 at 2,000, 26.0258 at 2,500, 26.0265 at 2,769, against the
  # source's 26.0285; the rate halved to 2.5e-5 at 1,501. Session 20 resumed it from 3,182
  # to 5,000 (one core, 100 minutes): 26.0288 at 3,500 (past the source), 26.0308 at 4,000,
  # 26.0287 at 4,500, 26.0323 at 5,000 (rate 6.25e-6 from 4,501). On full images at QP 46
  # (`python benchmarks/checkpoints.py ../shared/data/bsds500/val --qp 46 --limit 16
  # bpg-uqd-42-46-deep-v2 runs/bpg_uqd_upper_grow`) +0.2816 dB against the source's +0.2782;
  # on the first 12 (`--limit 12 --views 1,4,8`), +0.2722 / +0.2843 / +0.2866. Stopped by the
  # time limit at 5,413 (26.0315). So about +0.003 over the source, as
  # uqd-q46 gave: not shipped (32 MB more weights), and 8 views do not close the rest either.
  # Resume it; it still rises about +0.002 dB per 1,000 steps on the crops.
  uqd-upper-grow)
    uqd "2, 3, 8, 16" bpg-uqd-42-46-deep-v2 bpg_uqd_upper_grow 42:46:2 --crop 192 \
      --batch-size 4 --lr 5e-5 --lr-halve-every 1500
    ;;
  # Session 19, beside it on the other core: reach instead of depth. A fifth level (1/16
  # scale, 256 maps, 6 blocks, none on the way up) below bpg-uqd-42-46-deep-v2's lowest: its
  # way up starts at zero, so the run starts at the source's quality. 1.01x the source's time
  # per image (2-3-8-16: 1.11x), 19.8M parameters (16.1M). Session 19: 1,634 steps (80
  # minutes beside uqd-upper-grow), validation 26.0180 at 500, 26.0194 at 1,000, 26.0217 at
  # 1,500, 26.0264 at 1,634, within 0.0003 dB of uqd-upper-grow's at each step so far.
  # Session 20 resumed it from 2,100 to 4,651 (one core, 125 minutes): 26.0259 at 2,500,
  # 26.0253 at 3,000, 26.0287 at 3,500, 26.0307 at 4,000, 26.0286 at 4,500, 26.0317 at 4,651
  # (its best; rate 6.25e-6 from 4,501): still within 0.0003 dB of uqd-upper-grow at each
  # step, for a tenth of its extra time per image. Session 20 took it to 5,111 (26.0323 at
  # 5,000, its best), session 21 from 5,000 to 7,100 (one core, 100 minutes): 26.0314 at
  # 5,500, then 26.0320 at 6,000, 6,500 and 7,000 (rate 3.125e-6 from 6,001). It has
  # converged, +0.004 dB over the source on the crops and about +0.003 on full images at
  # QP 46: not shipped, and not worth resuming. QP 46 needs a larger net trained far longer
  # than this CPU allows (a GPU run), not more steps of these.
  uqd-upper-level)
    train bpg_uqd_upper_level UQ 42:46:2 --init bpg-uqd-42-46-deep-v2 --arch-config \
      '{"widths": [32, 64, 128, 192, 256], "blocks": [2, 3, 6, 12, 6], "up_blocks": [2, 3, 6, 0]}' \
      --crop 192 --batch-size 4 --lr 5e-5 --lr-halve-every 1500
    ;;
  # Session 19: every warm restart so far fell first (about -0.01 dB on the validation
  # crops). It is not Adam's first updates: the same run with the rate ramped up over 500
  # steps was lower still at step 500 (26.0167 against 26.0179), so that ramp was not kept.
  # The fall is the noise of a rate eight times the one the source finished at.
  # Session 22: decoding filters an image from its origin, so the HEVC 8x8 grid always
  # meets the U-Net's stride-8 sampling in one phase; random crops trained all 64. The
  # upper specialist fine-tuned on crops on the 8x8 grid (--crop-grid 8), at a low rate as
  # its source ended (the JPEG luma nets gained at once from crops on their block grid).
  uqd-upper-grid)
    deep_uqd bpg-uqd-42-46-deep-v2 bpg_uqd_upper_grid 42:46:2 --crop 192 --batch-size 4 \
      --lr 1e-5 --lr-halve-every 1000 --crop-grid 8
    ;;
  # It did not: validation 26.0273 dB at step 500 against the source's 26.0285 (a small fall,
  # as every warm restart here, not the JPEG nets' rise at once). The grid alone buys the
  # BPG net nothing quick; the JPEG nets' crops moved onto the grid together with the
  # projection entering their loss, which is the likelier cause of their gain. Stopped
  # there for the JPEG runs (one core, 26 minutes).
  *) echo "queue $queues" >&2; exit 2 ;;
esac
