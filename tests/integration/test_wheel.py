"""The wheel ships the deployment recipe, so `pip install hfaction` can deploy."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPE = ["template.yaml", "statemachine/render.asl.json", "handler/Dockerfile",
          "handler/app.py"]


def test_the_wheel_carries_the_template_asl_and_image_recipe(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("hfaction-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for relative in RECIPE:
            assert archive.read(f"hfaction/aws/_bundle/{relative}") == \
                (REPO / relative).read_bytes(), relative
        assert archive.read("hfaction/render/runtime/runtime.js") == \
            (REPO / "hfaction/render/runtime/runtime.js").read_bytes()
        archive.extractall(tmp_path / "site")
    # Installed from the wheel (not this checkout), the deploy code finds its copies.
    found = subprocess.run(
        [sys.executable, "-c", "from hfaction.aws.deploy import resource_path; "
         "print(resource_path('template.yaml'))"],
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"}, cwd=tmp_path,
        check=True, capture_output=True, text=True).stdout.strip()
    assert found == str(tmp_path / "site/hfaction/aws/_bundle/template.yaml")
