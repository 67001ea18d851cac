"""Build hook: ship the deployment recipe inside the package.

The repository's template.yaml, state machine definition and image recipe are the one
source; wheels carry copies under hfaction/aws/_bundle so that `pip install hfaction`
can deploy without a checkout (hfaction.aws.deploy.resource_path reads them).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = [
    "template.yaml",
    "statemachine/render.asl.json",
    "statemachine/batch.asl.json",
    "handler/Dockerfile",
    "handler/app.py",
]


class BuildPyWithRecipe(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "hfaction" / "aws" / "_bundle"
        for relative in BUNDLED:
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, destination)


setup(cmdclass={"build_py": BuildPyWithRecipe})
