"""A plain `dvc pull` in a fresh clone, with the project's own DVC config and data pointer.

A repository made of the project's DVC files (`.dvc/config`, `.dvcignore`, `data.dvc`,
`.gitignore`), cloned with git: after `geovr data ensure` in one clone, a second clone gets the
same bytes with `dvc pull` and nothing else; on a new machine (another HOME) `geovr data ensure
--no-regenerate` says in one line why there is nothing and what to run. HOME points into
tmp_path, so the default remote `~/.cache/geovr/dvcstore` is the test's, never the user's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from s3_fixtures import git, project_dvc_repo, tree_bytes

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(argv: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture
def origin(tmp_path) -> Path:
    return project_dvc_repo(tmp_path / "origin")


def _clone(origin: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(origin), str(dest)], check=True, timeout=120)
    return dest


def test_a_second_clone_gets_the_data_with_a_plain_dvc_pull(origin, tmp_path):
    home = tmp_path / "home"
    first = _clone(origin, tmp_path / "first")
    ensured = _run([sys.executable, "-m", "geovr", "data", "ensure"], first, home)
    assert ensured.returncode == 0, ensured.stderr[-2000:]
    summary = json.loads(ensured.stdout.strip().splitlines()[-1])
    assert summary["action"] == "regenerated" and summary["pushed"] is True, summary
    assert git("status", "--porcelain", cwd=first) == "", "ensure changed tracked files"
    assert (home / ".cache" / "geovr" / "dvcstore" / "files" / "md5").is_dir()

    second = _clone(origin, tmp_path / "second")
    pulled = _run([sys.executable, "-m", "dvc", "pull"], second, home)
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    assert tree_bytes(second / "data") == tree_bytes(first / "data")


def test_on_a_new_machine_ensure_without_regeneration_says_what_to_run(origin, tmp_path):
    home = tmp_path / "new-home"
    clone = _clone(origin, tmp_path / "clone")
    assert _run([sys.executable, "-m", "dvc", "pull"], clone, home).returncode != 0
    proc = _run([sys.executable, "-m", "geovr", "data", "ensure", "--no-regenerate"], clone, home)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    store = home / ".cache" / "geovr" / "dvcstore"
    assert f"nor remote localstore ({store})" in proc.stderr
    assert "run `geovr data ensure` here" in proc.stderr
    assert "`dvc remote modify --local localstore url PATH_OR_URL`" in proc.stderr
    assert not (clone / "data").exists()
