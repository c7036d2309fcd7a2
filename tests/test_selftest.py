"""The source --selftest passes here (CI runs it; the bundle runs the same code)."""

from conftest import run_python


def test_selftest_passes_offscreen():
    result = run_python("-m", "forget_desktop", "--selftest", env={"QT_QPA_PLATFORM": "offscreen"})
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL", "SELFTEST"))]
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert len([line for line in lines if line.startswith("PASS")]) == 4 and lines[-1] == "SELFTEST PASSED"
