"""Codecs: BPG, JPEG and the rcodec container. Importing the package registers Pillow's BPG
plugin, so `Image.open("x.bpg")` and `image.save("x.bpg", qp=35)` work after `import codec`."""

from codec import bpg as _bpg  # noqa: F401  (registers the Pillow plugin)
