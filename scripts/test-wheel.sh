#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtual environment, and run a small job with it,
# from outside the repository and from its root: the wheel must hold one top-level package,
# rcodec, with its weights and samples, and work without the checkout. (CI runs this.)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m pip wheel -q --no-deps -w "$work/dist" "$repo"
wheel=$(ls "$work"/dist/rcodec-*.whl)
python - "$wheel" <<'PY'
import sys, zipfile
tops = {name.split("/")[0] for name in zipfile.ZipFile(sys.argv[1]).namelist()}
tops = {t for t in tops if not t.endswith(".dist-info")}
assert tops == {"rcodec"}, f"the wheel's top level holds {sorted(tops)}, not just rcodec"
print(f"wheel {sys.argv[1].rsplit('/', 1)[-1]}: top level {sorted(tops)}")
PY
python -m venv "$work/venv"
"$work/venv/bin/pip" install -q torch==2.13.0 2>&1 | grep -v '^WARNING: Location' || true
"$work/venv/bin/pip" install -q "$wheel" 2>&1 | grep -v '^WARNING: Location' || true
run() { (cd "$1" && PATH="$work/venv/bin:$PATH" RCODEC_CACHE="$work/cache" \
         RCODEC_CALIBRATION="$work/cal.json" "${@:2}"); }
mkdir -p "$work/job"
run "$work/job" python - <<'PY'
from pathlib import Path
from PIL import Image
import rcodec
assert "site-packages" in rcodec.__file__, rcodec.__file__
Path("images").mkdir()
for path in sorted(rcodec.sample_images("samples").iterdir())[:3]:
    Image.open(path).convert("RGB").crop((0, 0, 256, 192)).save(f"images/{path.name}")
PY
run "$work/job" rcodec compress images --bpp 0.3 -o compressed --jobs 2
run "$work/job" rcodec decompress compressed -o decoded
run "$work/job" rcodec evaluate images decoded --json evaluation.json
run "$work/job" rcodec models --json > /dev/null
# From the repository's root, where codec/, postfilter/, ... sit as folders: the installed
# package is the one imported.
run "$repo" python -c "import rcodec, rcodec.codec.bpg as b; assert 'site-packages' in b.__file__, b.__file__"
echo "wheel install: OK"
