"""The render image's build context, for the CDK construct's Docker image asset.

``handler/Dockerfile`` installs hfaction offline from a ``wheels/`` folder beside it (no
PyPI inside the build), so its context is staged on the host first, as ``hfaction lambda
deploy`` does before it builds (:func:`hfaction.aws.image.stage_context`: hfaction's wheel,
from this checkout or the released version, and every dependency's for the image's
Python and architecture). Synthesis stages it once per image recipe and architecture
under the cache folder and reuses it afterwards, so the asset (and its hash) stays the
same from one ``cdk synth`` to the next; ``cdk deploy`` builds and pushes it. Staging
needs pip and the package index, not Docker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Docker platforms of the template's Architecture values.
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


def cache_dir() -> Path:
    """Where staged contexts are kept (``$XDG_CACHE_HOME/hfaction/image-contexts``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hfaction" / "image-contexts"


def image_context(architecture: str) -> Path:
    """The staged build context of this hfaction's render image for ``architecture``:
    ``Dockerfile``, ``app.py`` and ``wheels/``; staged on first use."""
    from hfaction import proc
    from hfaction.aws.deploy import REPO_ROOT, recipe_digest, resource_path
    from hfaction.aws.image import image_tag, stage_context

    root = cache_dir()
    # No dots: CDK would keep what follows one as the asset folder's "extension".
    context = root / image_tag(recipe_digest(), architecture).replace(".", "_")
    if context.is_dir():
        return context
    root.mkdir(parents=True, exist_ok=True)
    # Staged aside and renamed into place: an interrupted synthesis leaves no half context.
    scratch = Path(tempfile.mkdtemp(prefix=f".{context.name}-", dir=root))
    try:
        stage_context(scratch / "context", resource_path("handler/Dockerfile"),
                      resource_path("handler/app.py"), REPO_ROOT, architecture,
                      run=proc.run)
        try:
            os.replace(scratch / "context", context)
        except OSError:
            if not context.is_dir():  # else another synthesis staged it meanwhile
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return context
