"""What the fault tests of h2 (test_inputs*.py, test_runs*.py) share: run the real `geovr`
CLI as a subprocess, check that it refused with one clean line, and fingerprint directories
to show that no byte of unrelated data changed.

    proc = geovr("train", "--lr-model", "nan", ..., cwd=tmp_path)
    assert_refused(proc, "--lr-model")
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.geovr_data import make_geovr_data


def geovr(*args: str, cwd: Path, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geovr", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def assert_refused(proc: subprocess.CompletedProcess, fragment: str, code: int = 2) -> None:
    """Exit `code`, no traceback, and stderr one `geovr: error:` line naming `fragment`."""
    stderr = proc.stderr.strip()
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{stderr[-3000:]}"
    assert lines[0].startswith("geovr: error: ") and fragment in lines[0], lines[0]


def fingerprint(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under root (directories by their files)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def geovr_data(tmp_path_factory) -> tuple[Path, Path]:
    """(clips, targets) made by the real stages: 4 synthetic scenes, 4 frames at 64 px."""
    return make_geovr_data(tmp_path_factory.mktemp("faults_data"))
