"""DVC versioning with a local remote, in throwaway git+DVC repos (no network, no generator).

.venv/bin/pytest -q tests/data/test_versioning.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import s3_fixtures
from s3_fixtures import RECIPE, dvc, git, tree_bytes, write_dummy_dataset

from geovr.data import download, versioning
from geovr.data.versioning import DataVersionError
from geovr.errors import GeoVRError

pytestmark = pytest.mark.integration

dvc_repo = s3_fixtures.dvc_repo  # the fixture, bound here so that pytest sees it


@pytest.fixture
def tracked(dvc_repo):
    """dvc_repo with data/ tracked (recipe recorded in data.dvc) and committed; not pushed."""
    write_dummy_dataset(dvc_repo / "data", RECIPE)
    versioning.track_data(dvc_repo, push=False)
    git("add", "-A", cwd=dvc_repo)
    git("commit", "-q", "-m", "data v1", cwd=dvc_repo)
    return dvc_repo


def _forget_data(repo):
    """A fresh clone's state: no workspace copy, no cache."""
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)


def test_dir_md5_equals_dvc_add_and_leaves_repo_alone(tracked, tmp_path):
    pointer = versioning.read_pointer(tracked)
    before = git("status", "--porcelain", "--ignored", cwd=tracked)
    assert versioning.dir_md5(tracked / "data", tracked) == pointer["outs"][0]["md5"]
    assert git("status", "--porcelain", "--ignored", cwd=tracked) == before
    # The md5 depends on the bytes, not on where the directory lives.
    shutil.copytree(tracked / "data", tmp_path / "elsewhere")
    assert versioning.dir_md5(tmp_path / "elsewhere") == pointer["outs"][0]["md5"]


def test_track_records_recipe_and_dvc_keeps_it(tracked):
    assert versioning.read_pointer(tracked)["meta"]["generator"] == RECIPE
    (tracked / "data" / "extra.txt").write_text("more")
    dvc("add", "data", cwd=tracked)
    assert versioning.read_pointer(tracked)["meta"]["generator"] == RECIPE


def _own_data(repo):
    """The synthetic set replaced by other videos: a dataset.json without a generator."""
    shutil.rmtree(repo / "data")
    write_dummy_dataset(repo / "data", {**RECIPE, "seed": 99})
    (repo / "data" / "dataset.json").write_text('{"schema": "geovr.dataset/1", "name": "mine"}')


def test_plain_dvc_add_of_own_data_is_not_regenerated_but_pulled(tracked):
    _own_data(tracked)
    dvc("add", "data", cwd=tracked)  # DVC keeps meta.generator of the synthetic version
    git("commit", "-qam", "my data", cwd=tracked)
    _forget_data(tracked)
    calls = []
    with pytest.raises(
        DataVersionError, match=r"not the regenerable synthetic set.*dvc push"
    ) as err:
        versioning.ensure_data(tracked, regenerate=lambda out, params: calls.append(params))
    assert calls == [] and "dvc add" not in str(err.value)


def test_track_of_own_data_records_no_recipe_and_pushes_it(tracked):
    _own_data(tracked)
    mine = tree_bytes(tracked / "data")
    summary = versioning.track_data(tracked)
    assert summary["recipe"] is None and "meta" not in versioning.read_pointer(tracked)
    assert summary["pushed"] is True
    _forget_data(tracked)
    assert versioning.ensure_data(tracked)["action"] == "pulled"  # from the default remote
    assert tree_bytes(tracked / "data") == mine


def test_own_data_is_not_copied_into_the_per_user_store(tmp_path, monkeypatch):
    home = tmp_path / "home"  # the project's .dvc/config: the default remote is ~/.cache/...
    monkeypatch.setenv("HOME", str(home))
    repo = s3_fixtures.project_dvc_repo(tmp_path / "data-repo")
    write_dummy_dataset(repo / "mydata", RECIPE)
    (repo / "mydata" / "dataset.json").write_text('{"schema": "geovr.dataset/1", "name": "mine"}')
    tracked_own = versioning.track_data(repo, "mydata")
    assert tracked_own["recipe"] is None and tracked_own["pushed"] is False
    assert "dvc push mydata.dvc -r REMOTE" in tracked_own["push_skipped"]
    assert versioning.ensure_data(repo, "mydata")["pushed"] is False
    assert not (home / ".cache" / "geovr" / "dvcstore").exists()
    # the synthetic set (a recipe) is what the per-user store is for
    write_dummy_dataset(repo / "data", RECIPE)
    assert versioning.track_data(repo, "data", params=RECIPE)["pushed"] is True
    assert any((home / ".cache" / "geovr" / "dvcstore").rglob("*"))


def test_data_version_md5_rev_and_dirty(tracked):
    version = versioning.data_version(tracked, check_workspace=True)
    assert version["dvc_md5"] == versioning.read_pointer(tracked)["outs"][0]["md5"]
    assert version["git_rev"] == git("rev-parse", "HEAD", cwd=tracked).strip()
    assert version["dirty"] is False and version["workspace_matches"] is True
    assert version["nfiles"] == RECIPE["scenes"] + 2
    (tracked / "data" / "extra.txt").write_text("more")
    dvc("add", "data", cwd=tracked)
    changed = versioning.data_version(tracked)
    assert changed["dirty"] is True and changed["dvc_md5"] != version["dvc_md5"]


def test_ensure_does_nothing_when_workspace_matches(tracked):
    assert versioning.ensure_data(tracked)["action"] == "none"


def test_ensure_pulls_from_local_remote(tracked):
    original = tree_bytes(tracked / "data")
    dvc("push", cwd=tracked)
    _forget_data(tracked)
    summary = versioning.ensure_data(tracked, jobs=2)
    assert summary["action"] == "pulled"
    assert tree_bytes(tracked / "data") == original


def test_ensure_regenerates_and_verifies_when_remote_empty(tracked):
    original = tree_bytes(tracked / "data")
    _forget_data(tracked)
    calls = []

    def regenerate(out, params):
        calls.append(dict(params))
        write_dummy_dataset(out, dict(params))

    summary = versioning.ensure_data(tracked, regenerate=regenerate)
    assert summary["action"] == "regenerated" and calls == [RECIPE]
    assert "pull" in summary["pull_error"] and summary["pushed"] is True
    assert tree_bytes(tracked / "data") == original
    assert not list(tracked.glob(".data.*")), "staging left behind"
    assert git("status", "--porcelain", cwd=tracked) == "", "the pointer was rewritten"
    _forget_data(tracked)  # the regenerated bytes went to the default remote
    assert versioning.ensure_data(tracked)["action"] == "pulled" and calls == [RECIPE]
    assert tree_bytes(tracked / "data") == original


def test_ensure_fails_clearly_when_regenerated_bytes_differ(tracked):
    md5 = versioning.read_pointer(tracked)["outs"][0]["md5"]
    shutil.rmtree(tracked / "data")
    # Keep only the .dir listing in the cache (the pull still fails): it lets the error name files.
    for blob in (tracked / ".dvc" / "cache").rglob("*"):
        if blob.is_file() and not blob.name.endswith(".dir"):
            blob.unlink()
    drifted = {**RECIPE, "seed": RECIPE["seed"] + 1}
    with pytest.raises(DataVersionError) as err:
        versioning.ensure_data(
            tracked, regenerate=write_dummy_dataset, params=drifted, remote="localstore"
        )
    message = str(err.value)
    assert md5 in message and "left as it was" in message
    assert "differing files: dataset.json, videos/scene_0000.mp4, videos/scene_0001.mp4" in message
    assert not (tracked / "data").exists() and not list(tracked.glob(".data.*"))


def test_ensure_without_regenerate_says_in_one_line_that_no_remote_has_the_data(tracked):
    _forget_data(tracked)
    with pytest.raises(DataVersionError) as err:
        versioning.ensure_data(tracked)
    store = tracked / ".dvcstore"
    assert str(err.value) == (
        f"data/ version {versioning.read_pointer(tracked)['outs'][0]['md5']} is in neither the "
        f"DVC cache nor remote localstore ({store}), as on a machine where nothing pushed it "
        "yet: run `geovr data ensure` here to regenerate and push it, or point the remote at a "
        "store that has it (`dvc remote modify --local localstore url PATH_OR_URL`)"
    )


def test_ensure_refuses_a_modified_workspace_unless_forced(tracked):
    original = tree_bytes(tracked / "data")
    dvc("push", cwd=tracked)
    (tracked / "data" / "videos" / "scene_0001.mp4").write_bytes(b"edited")
    with pytest.raises(DataVersionError, match=r"differing files: videos/scene_0001.mp4.*--force"):
        versioning.ensure_data(tracked)
    assert versioning.ensure_data(tracked, force=True)["action"] == "pulled"
    assert tree_bytes(tracked / "data") == original


def test_checkout_revision_gets_an_older_version(tracked, tmp_path):
    v1_rev = git("rev-parse", "HEAD", cwd=tracked).strip()
    v1 = tree_bytes(tracked / "data")
    dvc("push", cwd=tracked)
    (tracked / "data" / "extra.txt").write_text("v2")
    dvc("add", "data", cwd=tracked)
    git("commit", "-q", "-am", "data v2", cwd=tracked)
    dvc("push", cwd=tracked)
    shutil.rmtree(tracked / ".dvc" / "cache")  # force the download through the remote
    out = tmp_path / "ingest" / "data-v1"
    summary = download.checkout_revision(tracked, v1_rev[:8], out, jobs=2)
    assert summary["action"] == "downloaded" and summary["git_rev"] == v1_rev
    assert tree_bytes(out) == v1
    assert download.checkout_revision(tracked, v1_rev, out)["action"] == "none"
    assert git("status", "--porcelain", cwd=tracked) == ""


def test_get_replaces_only_an_unmodified_earlier_download(tracked, tmp_path):
    v1_rev = git("rev-parse", "HEAD", cwd=tracked).strip()
    dvc("push", cwd=tracked)
    (tracked / "data" / "extra.txt").write_text("v2")
    dvc("add", "data", cwd=tracked)
    git("commit", "-q", "-am", "data v2", cwd=tracked)
    dvc("push", cwd=tracked)
    users = tmp_path / "mine"
    users.mkdir()
    (users / "notes.txt").write_text("not versioned anywhere")
    before = tree_bytes(users)
    proc = _geovr("get", "--rev", v1_rev, "--out", users, "--repo", tracked, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is not an unmodified `geovr data get` download" in proc.stderr
    assert tree_bytes(users) == before
    out = tmp_path / "got"
    download.checkout_revision(tracked, v1_rev, out)
    assert download.checkout_revision(tracked, "HEAD", out)["action"] == "downloaded"  # v1 -> v2
    edited = next(p for p in sorted(out.rglob("*")) if p.is_file())
    edited.write_text("a user's edit")
    with pytest.raises(GeoVRError, match="not an unmodified"):
        download.checkout_revision(tracked, v1_rev, out)
    assert edited.read_text() == "a user's edit"


def _geovr(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "geovr", "data", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_version_ensure_and_get(tracked, tmp_path):
    proc = _geovr("version", "--check", cwd=tracked / "data")  # root found upwards
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["workspace_matches"] and summary["git_rev"]
    ensured = json.loads(_geovr("ensure", "--no-push", cwd=tracked).stdout.splitlines()[-1])
    assert ensured["action"] == "none" and ensured["pushed"] is False
    proc = _geovr(
        "get", "--rev", "HEAD", "--out", tmp_path / "got", "--repo", tracked, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert tree_bytes(tmp_path / "got") == tree_bytes(tracked / "data")
    _forget_data(tracked)
    proc = _geovr("ensure", "--no-regenerate", cwd=tracked)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("geovr: error: data/ version ")
    assert "nor remote localstore" in proc.stderr and "`geovr data ensure`" in proc.stderr
