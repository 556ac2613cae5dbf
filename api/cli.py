"""The `rcodec` command: thin argument handling over the library; errors print as one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from rcodec.codec.limits import parse_pixels
from rcodec.codec.registry import set_pixel_cap
from rcodec.commands import COMMANDS
from rcodec.errors import RcodecError
from rcodec.version import __version__


class OneLineErrors(argparse.ArgumentParser):
    """argparse with its usage errors on one line (no usage block), still exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="rcodec",
        description="Compress image datasets to a bit-rate target with BPG or JPEG and restore "
                    "them with learned post-filters.")
    parser.add_argument("--version", action="version", version=f"rcodec {__version__}")
    parser.add_argument("--max-pixels", metavar="N",
                        help="largest image (pixels, e.g. 250M) any reader or decoder will "
                             "allocate for; also $RCODEC_MAX_PIXELS (defaults: BPG 134M, "
                             "JPEG 268M, other input images 89M)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for spec in COMMANDS:
        child = sub.add_parser(spec.name, help=spec.help, description=spec.help)
        spec.add_arguments(child)
        child.set_defaults(handler=spec.run)
    return parser


#: loky's resource tracker, a process of its own, may still warn at exit that a temporary
#: folder of a failed job's killed workers was already gone, after the one-line error; it
#: inherits this filter through the environment.
QUIET_RESOURCE_TRACKER = "ignore:resource_tracker:UserWarning"


def main(argv: Sequence[str] | None = None) -> int:
    filters = os.environ.get("PYTHONWARNINGS")
    if QUIET_RESOURCE_TRACKER not in (filters or ""):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [filters, QUIET_RESOURCE_TRACKER]))
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.max_pixels is not None:
            set_pixel_cap(parse_pixels(args.max_pixels))
        return int(args.handler(args) or 0)
    except RcodecError as error:
        return failed(args.command, str(error))
    except KeyboardInterrupt:
        return failed(args.command, None, 130)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        return failed(args.command, f"{error.filename}: {error.strerror}")
    except MemoryError:
        return failed(args.command, "out of memory")


def failed(command: str, message: str | None, status: int = 1) -> int:
    """Stop the parallel workers a failed job leaves (their resource tracker would print
    leak warnings after the error at exit), then say what went wrong, in one line."""
    if "joblib" in sys.modules:  # only a job that ran workers has any to stop
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True, kill_workers=True)
    text = "interrupted" if message is None else f"error: {message}"
    print(f"rcodec {command}: {text}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
