"""The source --selftest passes here (CI runs it; the bundle runs the same code)."""

from conftest import run_python


def test_selftest_passes_offscreen():
    result = run_python("-m", "forget_desktop", "--selftest", env={"QT_QPA_PLATFORM": "offscreen"})
    lines = [line for line in result.stdout.splitlines() if line.startswith(("PASS", "FAIL", "SELFTEST"))]
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert len([line for line in lines if line.startswith("PASS")]) == 7 and lines[-1] == "SELFTEST PASSED"
    assert any(line.startswith("PASS YuNet (bundled) finds the face") for line in lines)
    assert any(line.startswith("PASS exact forget: identical to the retrained reference") for line in lines)
