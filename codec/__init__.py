"""Codecs: BPG, JPEG and the rcodec container."""
