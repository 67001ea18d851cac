"""``import hfaction`` and every ``hfaction`` command work without loading aws-cdk-lib.

Run in fresh interpreters (this session's has loaded aws_cdk for the synth tests), with
the cdk extra installed: the check is meaningful only where aws_cdk could be imported, and
the last test shows that the same check does see aws_cdk once the construct is imported.
"""

from __future__ import annotations

import subprocess
import sys

from tests.integration.cdk.conftest import require_cdk


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)


def test_importing_every_hfaction_module_but_the_construct_leaves_aws_cdk_out() -> None:
    require_cdk()
    run = run_python("""
import importlib, pkgutil, sys
import hfaction
assert 'aws_cdk' not in sys.modules, 'import hfaction'
skipped = {'hfaction.__main__', 'hfaction.cdk.construct'}
names = [m.name for m in pkgutil.walk_packages(hfaction.__path__, 'hfaction.')]
assert 'hfaction.cdk.template' in names and 'hfaction.cli.lambda_' in names, names
for name in names:
    if name not in skipped:
        importlib.import_module(name)
        assert 'aws_cdk' not in sys.modules, name
print(len(names))
""")
    assert run.returncode == 0, run.stderr[-3000:]


def test_hfaction_commands_leave_aws_cdk_out() -> None:
    require_cdk()
    run = run_python("""
import sys
from hfaction.cli import main
for argv in (['--help'], ['lambda', '--help'], ['lambda', 'render', '--help'],
             ['lambda', 'progress', '--help'], ['--version']):
    try:
        main(argv)
    except SystemExit:
        pass
assert 'aws_cdk' not in sys.modules
""")
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_check_sees_aws_cdk_once_the_construct_is_imported() -> None:
    require_cdk()
    run = run_python("""
import sys
import hfaction.cdk
assert 'aws_cdk' not in sys.modules, 'hfaction.cdk itself loads the construct lazily'
from hfaction.cdk import HfactionRenderStack
assert 'aws_cdk' in sys.modules
""")
    assert run.returncode == 0, run.stderr[-3000:]
