"""A CDK construct for the render stack: ``pip install "hfaction[cdk]"``.

Only CDK apps import this package; ``import hfaction`` and the ``hfaction`` commands never
do, so they work without aws-cdk-lib. The construct itself is loaded on first use, which
also lets :mod:`hfaction.cdk.template` (pure data) be used without it.

Example::

    from aws_cdk import App, Stack
    from hfaction.cdk import HfactionRenderStack

    app = App()
    stack = Stack(app, "video")
    HfactionRenderStack(stack, "Render")  # cdk deploy builds and pushes the image
    # or, with an image already in ECR (then no `cdk bootstrap` is needed):
    # HfactionRenderStack(stack, "Render", image_uri="....dkr.ecr....amazonaws.com/r:0.1.0")
    app.synth()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hfaction.cdk.construct import HfactionRenderStack

__all__ = ["HfactionRenderStack"]


def __getattr__(name: str) -> Any:
    if name == "HfactionRenderStack":
        from hfaction.cdk.construct import HfactionRenderStack

        return HfactionRenderStack
    raise AttributeError(f"module 'hfaction.cdk' has no attribute {name!r}")
