"""The README's two commands are the ones CI and users run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(python3\.11 -m venv .*?)\n```", text)


def test_readme_opens_with_exactly_two_setup_commands():
    launch, test = readme_commands()[:2]
    assert launch.endswith("-m forget_desktop") and test.endswith("-m pytest")
    assert all(".venv" in c and "pip install" in c for c in (launch, test))


def test_ci_runs_the_readme_test_command():
    """.ci/run's command line is the README's test command, character for character."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    commands = [line for line in lines if "-m pytest" in line]
    assert commands == [readme_commands()[1]]
