"""What a job sweeps, resolved in one place: the codec with its options, the candidate
post-filters (from "default", "none" or names), the quantizers, and the rate the adaptive
quantizer window centres on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rcodec.codec import registry as codec_registry
from rcodec.errors import RcodecError
from rcodec.optimize.objective import DEFAULT as DEFAULT_OBJECTIVE
from rcodec.optimize.objective import default_tune
from rcodec.optimize.sweep import NO_FILTER, CodecSpec, FilterSpec, SweepRequest
from rcodec.postfilter import registry as models

#: A filter choice: "default" (the codec's default networks), "none", a network name, a
#: comma-separated string of those, or a sequence of them.
Filters = str | Sequence[str]


def filter_names(filters: Filters) -> list[str]:
    """The names in a filter choice, in order, blanks dropped."""
    items = filters.split(",") if isinstance(filters, str) else list(filters)
    return [name.strip() for name in items if name and name.strip()]


def network_for(name: str, codec: str, gray: bool = False) -> models.ModelEntry:
    """The registered network `name`, refused unless it filters this codec's output (and,
    for a gray image, unless it filters one plane)."""
    entry = models.find(name)
    if entry.codec != codec:
        raise RcodecError(f"post-filter {name} is for {entry.codec}, not {codec}")
    if gray and entry.channels == "rgb":
        raise RcodecError(f"post-filter {name} takes RGB; this image is gray (use a luma "
                          f"network, channels y in `rcodec models`)")
    return entry


def default_filters(codec: str) -> list[FilterSpec]:
    """The registered networks marked as defaults for this codec."""
    return [spec_of(entry) for entry in models.load_registry()
            if entry.codec == codec and entry.default]


def spec_of(entry: models.ModelEntry) -> FilterSpec:
    """A registered network as a sweep candidate, offered inside its quantizer range."""
    return FilterSpec(entry.name, entry.selector, entry.sha256,
                      tuple(entry.quantizer_range))


def resolve_filters(codec: str, filters: Filters) -> tuple[FilterSpec, ...]:
    """The candidates of a filter choice for one codec: always "none" (no network) first,
    then "default"'s networks and the named ones, each once."""
    specs = [NO_FILTER]
    for name in filter_names(filters):
        if name == "default":
            found = default_filters(codec)
        elif name == "none":
            found = []
        else:
            found = [spec_of(network_for(name, codec))]
        specs += [spec for spec in found if spec not in specs]
    return tuple(specs)


def codec_names(codecs: str | Sequence[str]) -> list[str]:
    """Codecs by name: one, a comma-separated list or a sequence, or "all" registered."""
    items = codecs.split(",") if isinstance(codecs, str) else list(codecs)
    names = list(dict.fromkeys(item.strip() for item in items if item and item.strip()))
    if names == ["all"]:
        return list(codec_registry.names())
    if not names:
        raise RcodecError("no codec given")
    return [codec_registry.codec_class(name).name for name in names]


def codec_spec(codec: str, options: Mapping[str, Any] | None = None) -> CodecSpec:
    """A codec by name with the sweep-level options given (others of its options keep their
    defaults); an option the codec does not have is refused."""
    cls = codec_registry.codec_class(codec)
    known = {option.name for option in cls.options}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise RcodecError(f"codec {codec} has no option {unknown[0]!r} "
                          f"(it has: {', '.join(sorted(known)) or 'none'})")
    return CodecSpec(codec, tuple(sorted(given.items())))


def sweep_request(codec: str = codec_registry.DEFAULT_CODEC, filters: Filters = "default",
                  quantizers: Sequence[int] | None = None, target_bpp: float = 0.15,
                  options: Mapping[str, Any] | None = None) -> SweepRequest:
    """The sweep of one codec: its candidate filters, and fixed quantizers or (None) an
    adaptive window per image around `target_bpp`."""
    if not target_bpp > 0:
        raise RcodecError(f"the target rate must be a positive number of bits per pixel, "
                          f"got {target_bpp!r}")
    return SweepRequest(codec_spec(codec, options), resolve_filters(codec, filters),
                        None if quantizers is None else tuple(quantizers), float(target_bpp))


def sweep_requests(codecs: str | Sequence[str], filters: Filters = "default",
                   quantizers: Sequence[int] | None = None, target_bpp: float = 0.15,
                   options: Mapping[str, Any] | None = None,
                   objective: str = DEFAULT_OBJECTIVE) -> list[SweepRequest]:
    """One sweep request per codec of a job that may mix codecs.

    `options` are shared: each codec takes those it has (one none of them has is refused);
    a codec with a tune option and none given gets the objective's (psnr, or ssim for the
    MS-SSIM objective). A network named in `filters` is a candidate for its own codec (one
    for a codec not in the job is refused); "default" and "none" apply to every codec.
    Fixed `quantizers` suit one codec only."""
    names = codec_names(codecs)
    if quantizers is not None and len(names) > 1:
        raise RcodecError("fixed quantizers mean different things to different codecs: give "
                          "them for one codec, or let the adaptive window choose")
    given = {k: v for k, v in (options or {}).items() if v is not None}
    owned = {o.name for n in names for o in codec_registry.codec_class(n).options}
    stray = sorted(set(given) - owned)
    if stray:
        raise RcodecError(f"no codec of {', '.join(names)} has an option {stray[0]!r}")
    for name in filter_names(filters):
        if name not in ("default", "none") and models.find(name).codec not in names:
            raise RcodecError(f"post-filter {name} is for {models.find(name).codec}, not "
                              f"among the codecs {', '.join(names)}")
    requests = []
    for name in names:
        own = {o.name for o in codec_registry.codec_class(name).options}
        chosen = {k: v for k, v in given.items() if k in own}
        if "tune" in own and "tune" not in chosen:
            chosen["tune"] = default_tune(objective)
        mine = [f for f in filter_names(filters)
                if f in ("default", "none") or models.find(f).codec == name]
        requests.append(sweep_request(name, mine, quantizers, target_bpp, chosen))
    return requests
