"""The source --selftest passes here (CI runs it; the bundle runs the same code)."""

from conftest import run_python


def test_selftest_passes_offscreen():
    result = run_python("-m", "forget_desktop", "--selftest", env={"QT_QPA_PLATFORM": "offscreen"})
    lines = [l for l in result.stdout.splitlines() if l.startswith(("PASS", "FAIL", "SELFTEST"))]
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert len([l for l in lines if l.startswith("PASS")]) == 4 and lines[-1] == "SELFTEST PASSED"
