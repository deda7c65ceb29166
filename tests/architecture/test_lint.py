"""ruff and mypy are part of the test suite, so CI enforces them with the one test command."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_format_is_clean() -> None:
    result = _run("ruff", "format", "--check", "doorstep", "tests", "migrations", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint_is_clean() -> None:
    result = _run("ruff", "check", "doorstep", "tests", "migrations", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    result = _run("mypy", "doorstep")
    assert result.returncode == 0, result.stdout + result.stderr
