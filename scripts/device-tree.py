"""What a device-tool call sends to the GPU machine, and how to send less.

  python scripts/device-tree.py size [--carry PATH ...]
  python scripts/device-tree.py park
  python scripts/device-tree.py restore

The device tool copies the checkout's working tree to the lent machine -- tracked files and
untracked files git does not ignore, plus the ignored paths a call carries -- and refuses a
call whose tree is over 64 MiB. The shipped weights alone are several times that, and no job
that runs there needs them (train-gpu.sh trains from scratch on the pairs carried in
gpu-data/), so before a device call they are parked:

  park     moves every tracked postfilter/weights/*.safetensors into .device-parked/ (ignored)
           and drops it from git's index, so that it is neither a tracked nor an untracked file;
  restore  moves them back and restores their index entries from HEAD.

Never commit between the two: the index then records the weights as deleted.
`size` prints what would travel now (with the carried paths) and fails over the limit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: The device tool's limit on the tree it copies (tracked, untracked-not-ignored, carried).
TRAVEL_LIMIT = 64 * 2**20
PARKED = ".device-parked"
MANIFEST = "MANIFEST"
WEIGHTS = "postfilter/weights/*.safetensors"


class TreeError(Exception):
    """A refusal with the reason, printed without a traceback."""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise TreeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def travelling_files(repo: Path, carry: Sequence[str] = ()) -> list[Path]:
    """The files a device call would copy, relative to `repo`: what git tracks or sees
    untracked and not ignored (present on disk), then everything under the carried paths."""
    listed = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    files = {Path(name) for name in listed.split("\0") if name and (repo / name).is_file()}
    for path in carry:
        root = repo / path
        found = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        files.update(p.relative_to(repo) for p in found)
    return sorted(files)


def travelling_bytes(repo: Path, carry: Sequence[str] = ()) -> int:
    return sum((repo / path).stat().st_size for path in travelling_files(repo, carry))


def tracked_weights(repo: Path) -> list[str]:
    return [name for name in git(repo, "ls-files", "-z", "--", WEIGHTS).split("\0") if name]


def park(repo: Path) -> list[str]:
    """Move the tracked weights out of what travels; the paths moved."""
    parked = repo / PARKED
    if parked.exists():
        raise TreeError(f"{parked} exists: the weights are parked already (run restore)")
    ignored = subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", f"{PARKED}/x"])
    if ignored.returncode != 0:  # else the parked files travel as untracked ones
        raise TreeError(f"git does not ignore {PARKED}/: add /{PARKED}/ to .gitignore")
    weights = tracked_weights(repo)
    changed = git(repo, "status", "--porcelain", "--", *weights) if weights else ""
    if changed:
        raise TreeError("weights with uncommitted changes, commit or revert them first:\n"
                        + changed)
    for name in weights:
        target = parked / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (repo / name).rename(target)
    (parked / MANIFEST).write_text("".join(f"{name}\n" for name in weights))
    if weights:
        git(repo, "rm", "-q", "--cached", "--", *weights)
    return weights


def restore(repo: Path) -> list[str]:
    """Put parked weights back where they were, tracked as in HEAD; the paths restored."""
    parked = repo / PARKED
    manifest = parked / MANIFEST
    if not manifest.is_file():
        raise TreeError(f"nothing parked ({manifest} is missing)")
    weights = manifest.read_text().split()
    for name in weights:
        if (repo / name).exists():
            raise TreeError(f"{name} exists in the checkout and is parked too: move one "
                            "aside by hand")
    for name in weights:
        (parked / name).rename(repo / name)
    if weights:
        git(repo, "reset", "-q", "--", *weights)
        if git(repo, "status", "--porcelain", "--", *weights):
            raise TreeError("restored weights differ from HEAD: check git status")
    manifest.unlink()
    for folder in sorted((p for p in parked.rglob("*") if p.is_dir()), reverse=True):
        folder.rmdir()
    parked.rmdir()
    return weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("size", "park", "restore"))
    parser.add_argument("--carry", nargs="*", default=[], help="ignored paths the call carries")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    try:
        if args.action == "park":
            print(f"parked {len(park(repo))} weights files in {PARKED}/; do not commit "
                  "until `restore`")
        elif args.action == "restore":
            print(f"restored {len(restore(repo))} weights files")
        total = travelling_bytes(repo, args.carry)
    except (TreeError, OSError) as error:
        print(f"device-tree: {error}", file=sys.stderr)
        return 1
    verdict = "fits" if total <= TRAVEL_LIMIT else "is over"
    print(f"a device call would send {total / 2**20:.1f} MiB: {verdict} the "
          f"{TRAVEL_LIMIT // 2**20} MiB limit")
    return 0 if total <= TRAVEL_LIMIT or args.action == "restore" else 1


if __name__ == "__main__":
    sys.exit(main())
