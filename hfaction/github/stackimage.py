"""Which render image ``deploy: auto`` deploys: the action's ``image-uri`` input, else the
image the stack already runs when it is a custom one, else hfaction's own.

hfaction builds its image into the stack's ``STACK-render`` repository with the tag
``<hfaction version>-<Dockerfile digest>-<architecture>`` (hfaction.aws.image). An image
anywhere else, or with another tag, was chosen by someone (``--image-uri``, a CDK app, an
image with extra fonts): a deploy that is not told otherwise keeps it rather than
replacing it with a freshly built default image.
"""

from __future__ import annotations

import re

from hfaction.aws.deploy import image_repository
from hfaction.aws.facade import AwsFacade
from hfaction.aws.image import repository_name
from hfaction.errors import BadInput, InvalidOption

BUILD = "build"  # the input value that asks for hfaction's own image
_BUILT_TAG = re.compile(r".+-[0-9a-f]{12}-(x86_64|arm64)")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9.-]*(:\d+)?/[a-z0-9._/-]+"
                    r"(:[\w.-]{1,128}|@sha256:[0-9a-f]{64})")


def check_image_uri(value: str) -> str:
    """``value`` if it is an image reference (registry/repository:tag or @digest) or
    ``build``."""
    if value != BUILD and not _IMAGE.fullmatch(value):
        raise InvalidOption(f"image {value!r} is not an image URI such as "
                            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/video-render:v2",
                            hint=f"or '{BUILD}' for hfaction's own image")
    return value


def built_by_hfaction(image: str, stack_name: str) -> bool:
    """Whether ``image`` is one hfaction built for this stack (any hfaction version)."""
    repository = image_repository(image)
    tag = image[len(repository) + 1:] if image.startswith(repository + ":") else ""
    return repository.rsplit("/", 1)[-1] == repository_name(stack_name) and \
        bool(_BUILT_TAG.fullmatch(tag))


def image_to_deploy(facade: AwsFacade, stack_name: str, asked: str = "") -> str | None:
    """The ``--image-uri`` for ``hfaction lambda deploy``: the one asked for; for ``build``
    or a stack that is missing or runs hfaction's image, None (hfaction's own image, built
    when needed); else the stack's current, custom image."""
    if asked:
        checked = check_image_uri(asked)
        return None if checked == BUILD else checked
    try:
        stack = facade.stack(stack_name)
    except BadInput:
        return None
    current = stack.parameters.get("ImageUri", "")
    if not current or built_by_hfaction(current, stack_name):
        return None
    return current
