"""Lambda entry point of the hfaction image: ``app.handler``.

All logic lives in :mod:`hfaction.aws.handler`; this module exists so the image's
CMD names a stable handler.
"""

from hfaction.aws.handler import handler

__all__ = ["handler"]
