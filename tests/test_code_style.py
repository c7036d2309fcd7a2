"""The house style is checked where the tests run: ruff's lint rules and its formatter (pyproject.toml)."""

import subprocess
import sys

from conftest import ROOT


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing_to_fix():
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout[-3000:]


def test_code_is_formatted():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout[-3000:]
