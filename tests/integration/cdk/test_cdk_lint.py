"""The synthesized templates pass cfn-lint.

cfn-lint is the one of .venv-sam (aws-sam-cli's, installed by scripts/lint-aws.sh on first
use, the same that lints template.yaml): found as tests/integration/aws/moto_stack.py's
``require_sam`` finds sam, which skips naming aws-sam-cli when it cannot be installed,
except under HFACTION_REQUIRE_TOOLS=1 (CI), where it fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.aws.moto_stack import require_sam
from tests.integration.cdk.conftest import Synthesized


def test_cfn_lint_passes_on_every_synthesized_stack(synthesized: Synthesized,
                                                   tmp_path: Path) -> None:
    cfn_lint = Path(require_sam()).parent / "cfn-lint"
    # All warnings count too (cfn-lint's exit status is a bit mask: 4 means warnings).
    run = subprocess.run([str(cfn_lint), "--format", "parseable", "--",
                          *map(str, synthesized.files.values())],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, f"cfn-lint:\n{run.stdout}\n{run.stderr}"


def test_cfn_lint_catches_a_broken_template(synthesized: Synthesized, tmp_path: Path) -> None:
    # The same run fails on a misspelt property, so a pass above means something.
    cfn_lint = Path(require_sam()).parent / "cfn-lint"
    template = json.loads(next(iter(synthesized.files.values())).read_text())
    properties = template["Resources"]["RenderFunction"]["Properties"]
    properties["MemorySise"] = properties.pop("MemorySize")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(template))
    run = subprocess.run([str(cfn_lint), "--format", "parseable", "--", str(broken)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode != 0 and "MemorySise" in run.stdout, run.stdout
