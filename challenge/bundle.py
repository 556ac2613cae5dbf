"""A self-contained decoder folder: the decode path's own modules, the networks a plan uses,
and pinned requirements.

The modules are found by importing the decoder's entry point in a fresh interpreter and
keeping every project module it loaded, so the bundle follows the code as it changes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from rcodec.errors import RcodecError
from rcodec.fileio import atomic_write_text
from rcodec.postfilter.registry import ModelEntry
from rcodec.postfilter.registry import weights_dir as registry_weights_dir

#: Top-level packages of this project.
PROJECT_PACKAGES = ("rcodec",)

ENTRY_MODULE = "rcodec.challenge.decoder_main"

LAUNCHER = '''"""Decode this submission's images: python decode.py [INPUT ...] [-o OUT_DIR].

Without INPUT it decodes ../images. See lib/rcodec/challenge/decoder_main.py.
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lib"))

try:
    from rcodec.challenge import decoder_main
except ImportError as error:
    sys.exit(f"decode: error: the modules in {HERE / 'lib'} are incomplete or not from this "
             f"decoder ({error})")

for module in ("rcodec", "rcodec.challenge", "rcodec.codec", "rcodec.postfilter"):
    origin = Path(sys.modules[module].__file__ or "").resolve() if module in sys.modules else HERE
    if HERE not in origin.parents:
        sys.exit(f"decode: error: {module} was imported from {origin}, not from this decoder")
sys.exit(decoder_main.main(default_input=HERE.parent / "images"))
'''

_PROBE = """
import importlib, json, sys
import {entry}, rcodec.postfilter.inference, rcodec.postfilter.dct  # (loaded on first use)
from rcodec.codec import registry
for name in registry.names():  # what each codec's decoder imports on first use
    for module in registry.codec_class(name).decode_requires:
        importlib.import_module(module)
mods = {{}}
for name, module in list(sys.modules.items()):
    mods[name] = getattr(module, "__file__", None)
print(json.dumps(mods))
"""


def _loaded_modules() -> dict[str, str | None]:
    """Modules (name -> file) a fresh interpreter loads to run the decoder."""
    probe = _PROBE.format(entry=ENTRY_MODULE)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RcodecError(f"cannot import the decoder to bundle it: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _project_files(modules: dict[str, str | None]) -> list[tuple[str, Path]]:
    """(relative path, source file) of every project module the decoder loads, with the
    __init__.py of each package on the way."""
    files: dict[str, Path] = {}
    for name, file in modules.items():
        if name.split(".")[0] not in PROJECT_PACKAGES or not file:
            continue
        source = Path(file)
        parts = name.split(".")
        relative = "/".join(parts[:-1] + [source.name]) if source.name != "__init__.py" \
            else "/".join(parts + ["__init__.py"])
        files[relative] = source
    return sorted(files.items())


def requirements(modules: dict[str, str | None]) -> list[str]:
    """Pinned `name==version` lines for the third-party distributions the decoder imports."""
    owners = metadata.packages_distributions()
    wanted: set[str] = set()
    for name in modules:
        top = name.split(".")[0]
        if top in PROJECT_PACKAGES or top in sys.stdlib_module_names or top.startswith("_"):
            continue
        wanted.update(owners.get(top, []))
    lines = []
    for dist in sorted(wanted, key=str.lower):
        version = metadata.version(dist).split("+")[0]  # a local build tag (+cpu) is not on PyPI
        lines.append(f"{dist}=={version}")
    return lines


def write_decoder(target: Path, networks: Iterable[ModelEntry]) -> dict:
    """Write the decoder folder at `target` (which must not exist); return its description."""
    if target.exists():
        raise RcodecError(f"{target}: already exists")
    modules = _loaded_modules()
    lib = target / "lib"
    for relative, source in _project_files(modules):
        destination = lib / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    weights_dir = lib / "rcodec" / "postfilter" / "weights"
    weights_dir.mkdir(parents=True, exist_ok=True)
    shipped = registry_weights_dir()
    used = sorted(networks, key=lambda entry: entry.selector)
    for entry in used:
        source = shipped / entry.weights
        shutil.copyfile(source, weights_dir / entry.weights)
    atomic_write_text(weights_dir / "registry.json",
                      json.dumps([entry.to_json() for entry in used], indent=2))
    pins = requirements(modules)
    atomic_write_text(target / "requirements.txt", "\n".join(pins) + "\n")
    atomic_write_text(target / "decode.py", LAUNCHER)
    return {"entry": "decoder/decode.py", "networks": [entry.name for entry in used],
            "requirements": pins}
