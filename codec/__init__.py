"""Codecs (BPG, JPEG, AVIF, WebP, JPEG XL, JPEG 2000) and the rcodec container, behind one codec
registry (`registry`).
Importing the package registers Pillow's BPG plugin, so `Image.open("x.bpg")` and
`image.save("x.bpg", qp=35)` work after `import rcodec`."""

from rcodec.codec import bpg as _bpg  # noqa: F401  (registers the Pillow plugin)
