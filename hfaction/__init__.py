"""hfaction: render HyperFrames HTML video compositions to MP4."""

__version__ = "0.1.0"
