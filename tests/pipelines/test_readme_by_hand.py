"""The README's "Train and evaluate by hand" section from nothing: its complete command lines
(those without `...`), as printed and in order, in a fresh clone with no data or runs."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GEOVR = Path(sys.executable).parent / "geovr"


def by_hand_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Train and evaluate by hand\n(.*?)^## ", readme, re.S | re.M).group(1)
    lines = [line.strip() for line in section.splitlines() if re.match(r"^ {4}geovr ", line)]
    return [shlex.split(line, comments=True) for line in lines if "..." not in line]


@pytest.mark.integration
@pytest.mark.slow
def test_by_hand_section_runs_from_a_fresh_clone(tmp_path):
    commands = by_hand_commands()
    assert [c[:2] for c in commands[:2]] == [["geovr", "data"], ["geovr", "ingest"]]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    # HOME in tmp: `geovr data ensure` pushes to the default remote, ~/.cache/geovr/dvcstore
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    for argv in commands:
        result = subprocess.run(
            [str(GEOVR), *argv[1:]], cwd=clone, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, f"{shlex.join(argv)}: {result.stderr[-2000:]}"
    assert (clone / "runs" / "eval" / "metrics.json").is_file()
