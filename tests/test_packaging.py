"""What pyproject.toml promises: every Python version it accepts can install the
dependencies (Snakemake 9 needs 3.11), and the test command says why a test was
skipped or is expected to fail."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from packaging.specifiers import SpecifierSet

from workflow_helpers import REPO

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_every_python_we_accept_can_install_snakemake():
    ours = SpecifierSet(PROJECT["requires-python"])
    snakemake = SpecifierSet(importlib.metadata.metadata("snakemake")["Requires-Python"])
    accepted = [f"3.{minor}" for minor in range(8, 20) if f"3.{minor}" in ours]
    assert accepted and all(version in snakemake for version in accepted), (ours, snakemake)
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in ours


def test_the_test_command_lists_failures_and_why_a_test_was_skipped_or_expected_to_fail(tmp_path):
    (tmp_path / "test_reasons.py").write_text(
        "import pytest\n"
        "def test_skipped():\n    pytest.skip('no widget here')\n"
        "@pytest.mark.xfail(strict=True, reason='the widget is broken')\n"
        "def test_broken():\n    assert False\n"
        "def test_failing():\n    assert 1 == 2\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", str(tmp_path / "test_reasons.py")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert "1 failed, 1 skipped, 1 xfailed" in result.stdout, result.stdout
    assert "FAILED test_reasons.py::test_failing - assert 1 == 2" in result.stdout
    assert "SKIPPED [1] test_reasons.py:3: no widget here" in result.stdout
    assert "XFAIL test_reasons.py::test_broken - the widget is broken" in result.stdout
