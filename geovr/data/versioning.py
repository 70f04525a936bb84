"""DVC versioning of the video dataset: which data version a run used, and making `data/`
match `data.dvc` (pull it, or regenerate it with the synthetic generator and verify it).

    from geovr.data.versioning import data_version, ensure_data, synth_regenerator
    data_version(".")        # {"dvc_md5": "<md5>.dir", "git_rev": "<sha>", "dirty": False, ...}
    ensure_data(".", regenerate=synth_regenerator(), jobs=4)   # `geovr data ensure`

Downloading a committed revision (`geovr data get`) is geovr.data.download.

Remotes (`.dvc/config`): `localstore`, the default, is `~/.cache/geovr/dvcstore`, one store
per user that outlives any checkout (DVC expands the `~`), so once `ensure_data` or
`track_data` has pushed the synthetic set there every clone of this user gets it with a plain
`dvc pull` (own data stays in the user's remote: geovr.data.publish); `dvc remote modify
--local localstore url PATH` moves it for one checkout. `s3` is s3://geovr-data/dvc: a data
repository commits its own bucket and endpoint (`dvc remote modify s3 url ...`); credentials
come only from the environment (AWS_*).

DVC and git run as subprocesses (geovr.data.dvc_commands).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from geovr.artifacts import atomic_write_text
from geovr.data.dvc_commands import (
    LOCAL_TIMEOUT,
    REMOTE_TIMEOUT,
    CommandError,
    DataVersionError,
    dvc_cmd,
    run_command,
    run_remote,
    transfer_opts,
)
from geovr.data.publish import publish, remote_url

log = logging.getLogger(__name__)

SYNTH_FLAGS = ("scenes", "frames", "size", "seed")  # `geovr data synth` options a recipe may set

Regenerate = Callable[[Path, Mapping[str, Any]], None]


def _build_tree(path: Path, ignore_root: Path | None = None):
    """DVC's own staging build (dvc-data), dry run: hashes only, nothing is stored."""
    from dvc.ignore import DvcIgnoreFilter
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    path = path.resolve()
    if not path.exists():
        raise DataVersionError(f"{path} does not exist")
    ignore = DvcIgnoreFilter(fs, str((ignore_root or path.parent).resolve()))
    # The ODB directory only names the in-memory staging area; dry_run writes nothing to it.
    with tempfile.TemporaryDirectory(prefix="geovr-md5-") as odb_dir:
        _, meta, obj = build(
            HashFileDB(fs, odb_dir), str(path), fs, "md5", dry_run=True, ignore=ignore
        )
    if obj.fs is not None and obj.fs.protocol == "memory":
        obj.fs.rm_file(obj.path)  # the staged .dir listing would stay in a process-wide memfs
    return meta, obj


def dir_md5(path: str | Path, repo_root: str | Path | None = None) -> str:
    """The md5 `dvc add` would record for `path` (`<md5>.dir` for a directory).

    Computed by dvc-data's build in dry-run mode, the same code `dvc add`/`dvc status` use, with
    the repo's .dvcignore rules when `repo_root` is given; the repo, its cache and its state DB
    are left untouched (so every call rereads the bytes).
    """
    _, obj = _build_tree(Path(path), Path(repo_root) if repo_root else None)
    return obj.hash_info.value


def _manifest(path: Path, repo_root: Path | None = None) -> tuple[str, dict[str, str], int]:
    """(md5, {relpath: file md5}, total bytes) of a directory."""
    from dvc_data.hashfile.tree import Tree

    meta, obj = _build_tree(path, repo_root)
    files = {"/".join(key): hi.value for key, _, hi in obj} if isinstance(obj, Tree) else {}
    return obj.hash_info.value, files, meta.size or 0


def read_pointer(repo_root: str | Path, target: str = "data") -> dict[str, Any]:
    """The parsed `<target>.dvc` with its single out checked."""
    path = Path(repo_root) / f"{target}.dvc"
    if not path.is_file():
        raise DataVersionError(
            f"{path} not found: create the dataset (`geovr data synth --out {target} ...`), "
            f"then `geovr data track --target {target}`"
        )
    return _parse_pointer(path.read_text(), str(path))


def _parse_pointer(text: str, name: str) -> dict[str, Any]:
    doc = YAML(typ="safe").load(text) or {}
    outs = doc.get("outs") or []
    if len(outs) != 1 or not outs[0].get("md5"):
        raise DataVersionError(f"{name}: expected exactly one out with an md5, found {outs!r}")
    return doc


def _recorded(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = doc["outs"][0]
    return {"dvc_md5": out["md5"], "size": out.get("size"), "nfiles": out.get("nfiles")}


def _cached_manifest(repo_root: Path, md5: str) -> dict[str, str] | None:
    """{relpath: md5} of a recorded directory, when its .dir listing is in the default cache
    (best effort: it only sharpens error messages)."""
    obj = repo_root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    if not obj.is_file():
        return None
    return {entry["relpath"]: entry["md5"] for entry in json.loads(obj.read_text())}


def _mismatch(
    what: str,
    got: tuple[str, dict[str, str], int],
    recorded: Mapping[str, Any],
    known: dict[str, str] | None,
) -> str:
    """A message that says which version differs from which, and where."""
    md5, files, size = got
    msg = (
        f"{what} has DVC md5 {md5} ({len(files)} files, {size} bytes) but the pointer records "
        f"{recorded['dvc_md5']} ({recorded['nfiles']} files, {recorded['size']} bytes)"
    )
    if known is not None:
        differ = sorted(k for k in set(files) | set(known) if files.get(k) != known.get(k))
        msg += f"; differing files: {', '.join(differ[:8])}" + (" ..." if len(differ) > 8 else "")
    return msg


def data_version(
    repo_root: str | Path = ".", target: str = "data", check_workspace: bool = False
) -> dict[str, Any]:
    """The data version a run uses: `<target>.dvc`'s md5 and the git commit holding it.

    `dirty` is true when `<target>.dvc` differs from HEAD (or there is no commit), i.e. the md5
    is not reproducible from `git_rev` alone. `check_workspace` also hashes `<target>/`.
    """
    root = Path(repo_root)
    version = {"target": target, **_recorded(read_pointer(root, target))}
    try:
        version["git_rev"] = run_command(["git", "rev-parse", "HEAD"], cwd=root).strip()
        status = run_command(["git", "status", "--porcelain", "--", f"{target}.dvc"], cwd=root)
        version["dirty"] = bool(status.strip())
    except CommandError:
        version.update(git_rev=None, dirty=True)  # not a git repo, or no commit yet
    if check_workspace:
        workspace = root / target
        version["workspace_matches"] = (
            workspace.exists() and dir_md5(workspace, root) == version["dvc_md5"]
        )
    return version


def synth_regenerator(timeout: float = LOCAL_TIMEOUT) -> Regenerate:
    """A `regenerate` for `ensure_data` that runs `geovr data synth` with the recorded recipe."""

    def regenerate(out_dir: Path, params: Mapping[str, Any]) -> None:
        flags = [arg for key in SYNTH_FLAGS if key in params for arg in (f"--{key}", params[key])]
        if not flags:
            raise DataVersionError(f"recipe {dict(params)} sets none of {', '.join(SYNTH_FLAGS)}")
        run_command(
            [sys.executable, "-m", "geovr", "data", "synth", "--out", out_dir, *flags],
            timeout=timeout,
        )

    return regenerate


def _dataset_recipe(repo_root: str | Path, target: str) -> dict[str, Any] | None:
    """`generator` of `<target>/dataset.json`: what `geovr data synth` wrote into its output."""
    dataset_json = Path(repo_root) / target / "dataset.json"
    recipe = (
        json.loads(dataset_json.read_text()).get("generator") if dataset_json.is_file() else None
    )
    return dict(recipe) if recipe else None


def find_recipe(repo_root: str | Path, target: str = "data") -> dict[str, Any] | None:
    """The generator arguments: `meta.generator` in `<target>.dvc` (tracked by git, so known
    before the data exists), else `generator` in `<target>/dataset.json`. A recorded recipe
    counts only for the version it generated (`meta.generated_md5`): DVC keeps `meta` when
    `dvc add` records other data, such as your own videos in place of the synthetic set."""
    pointer = read_pointer(repo_root, target)
    meta = pointer.get("meta") or {}
    recipe, current = meta.get("generator"), _recorded(pointer)["dvc_md5"]
    if recipe and meta.get("generated_md5", current) != current:  # pointers before it: trusted
        recipe = None
    return dict(recipe) if recipe else _dataset_recipe(repo_root, target)


def _swap_dir(new: Path, dest: Path) -> None:
    """Put the complete directory `new` at `dest`, replacing any old one only at the end."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        os.replace(new, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new, dest)


def _regenerate_verified(
    root: Path,
    target: str,
    recorded: Mapping[str, Any],
    regenerate: Regenerate,
    params: Mapping[str, Any],
) -> None:
    """Generate into a hidden sibling, verify its md5, only then move it to `<target>/`."""
    dest = root / target
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.regen.", dir=dest.parent))
    try:
        out = work / dest.name
        regenerate(out, params)
        got = _manifest(out)
        if got[0] != recorded["dvc_md5"]:
            known = _cached_manifest(root, recorded["dvc_md5"])
            raise DataVersionError(
                _mismatch(f"data regenerated with {dict(params)}", got, recorded, known)
                + f"; {target}/ left as it was. Pull the recorded bytes from a remote that has "
                f"them, or record the new ones: `dvc add {target}` and commit {target}.dvc"
            )
        _swap_dir(out, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pull(
    root: Path, target: str, jobs: int | None, remote: str | None, force: bool, timeout: float
) -> str | None:
    """`dvc pull` the target; None on success, else the reason it failed."""
    cmd = dvc_cmd(
        "pull", f"{target}.dvc", *transfer_opts(jobs, remote), *(["--force"] if force else [])
    )
    try:
        run_remote(cmd, cwd=root, timeout=timeout)
    except CommandError as e:
        return str(e)
    return None


_MISSING_IN_REMOTE = "missing cache files"  # what `dvc pull` says when no remote has the data


def _not_in_remote(root: Path, target: str, remote: str | None, md5: str) -> str:
    """The one-line reason and fix when no remote this clone knows has the data (a new machine,
    or a store nothing was pushed to)."""
    name, url = remote_url(root, remote)
    name, url = name or "(none)", url or "not configured"
    ensure = "geovr data ensure" + ("" if target == "data" else f" --target {target}")
    fix = (
        f"run `{ensure}` here to regenerate and push it"
        if find_recipe(root, target)
        else f"push it where it was added (`dvc push {target}.dvc -r REMOTE`)"
    )
    return (
        f"{target}/ version {md5} is in neither the DVC cache nor remote {name} ({url}), "
        f"as on a machine where nothing pushed it yet: {fix}, or point the remote at a store "
        f"that has it (`dvc remote modify --local {name} url PATH_OR_URL`)"
    )


def ensure_data(
    repo_root: str | Path = ".",
    target: str = "data",
    regenerate: Regenerate | None = None,
    jobs: int | None = None,
    remote: str | None = None,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    timeout: float = REMOTE_TIMEOUT,
    push: bool = True,
) -> dict[str, Any]:
    """Make `<target>/` match `<target>.dvc`; return what was done (`action`:
    none|pulled|regenerated) and whether it was pushed to the default remote (`pushed`).

    Already matching: nothing. Else `dvc pull` (retried when transient, `timeout` per attempt);
    if that fails and `regenerate` is given, regenerate from `params` (default: the recorded
    recipe, see `find_recipe`) and accept the result only if its DVC md5 equals the pointer's.
    A workspace that differs from the pointer is replaced only with `force` (it may hold
    someone's unrecorded change). With `push`, the result then goes into the DVC cache and the
    default remote (whichever remote it came from), see geovr.data.publish.
    """
    root = Path(repo_root).resolve()
    recorded = _recorded(read_pointer(root, target))
    summary = {"target": target, "dvc_md5": recorded["dvc_md5"]}
    own_data = not find_recipe(root, target)
    workspace = root / target
    if workspace.exists():
        got = _manifest(workspace, root)
        if got[0] == recorded["dvc_md5"]:
            return {**summary, "action": "none", **publish(root, target, push, timeout, own_data)}
        if not force:
            raise DataVersionError(
                _mismatch(f"{target}/", got, recorded, _cached_manifest(root, recorded["dvc_md5"]))
                + f". Record it with `dvc add {target}`, or discard it with --force"
            )
        log.warning("%s/ differs from %s.dvc; replacing it (force)", target, target)
    pull_error = _pull(root, target, jobs, remote, force, timeout)
    if pull_error is None:
        got = _manifest(workspace, root)
        if got[0] != recorded["dvc_md5"]:
            raise DataVersionError(_mismatch(f"pulled {target}/", got, recorded, None))
        return {**summary, "action": "pulled", **publish(root, target, push, timeout, own_data)}
    if regenerate is None:
        raise DataVersionError(
            _not_in_remote(root, target, remote, recorded["dvc_md5"])
            if _MISSING_IN_REMOTE in pull_error.lower()
            else f"could not pull {target}/ and no regeneration was asked for: {pull_error}"
        )
    log.warning("pull failed, regenerating %s/: %s", target, pull_error)
    params = params or find_recipe(root, target)
    if not params:
        raise DataVersionError(
            f"could not pull {target}/ ({pull_error}) and {target}.dvc records no generator recipe "
            f"for version {recorded['dvc_md5']}: it is not the regenerable synthetic set, so "
            f"push it to a remote this clone can reach (`dvc push -r s3` where it was added) "
            f"and pull from there (`geovr data ensure --remote s3`)"
        )
    _regenerate_verified(root, target, recorded, regenerate, params)
    return {
        **summary,
        "action": "regenerated",
        "params": dict(params),
        "pull_error": pull_error,
        **publish(root, target, push, timeout, own_data=False),
    }


def track_data(
    repo_root: str | Path = ".",
    target: str = "data",
    params: Mapping[str, Any] | None = None,
    timeout: float = REMOTE_TIMEOUT,
    push: bool = True,
) -> dict[str, Any]:
    """`dvc add <target>` and record the generator recipe, with the md5 it generated, as
    `meta.generator` / `meta.generated_md5` in the pointer, so `ensure_data` can regenerate on
    a fresh clone. The recipe defaults to `generator` in `<target>/dataset.json`; data without
    one (your own) gets no recipe, and any recorded for an earlier version is removed. With
    `push`, the data then goes to the default remote, unless it is your own data and that
    remote is the per-user store (geovr.data.publish)."""
    root = Path(repo_root)
    run_command(dvc_cmd("add", target), cwd=root, timeout=timeout)
    recipe = dict(params) if params else _dataset_recipe(root, target)
    yaml, pointer = YAML(), root / f"{target}.dvc"  # round trip: keeps DVC's layout
    doc = yaml.load(pointer.read_text())
    meta = doc.get("meta") or {}
    if recipe:
        meta.update(generator=recipe, generated_md5=_recorded(doc)["dvc_md5"])
    else:
        meta.pop("generator", None)
        meta.pop("generated_md5", None)
    if meta:
        doc["meta"] = meta
    else:
        doc.pop("meta", None)
    buf = io.StringIO()
    yaml.dump(doc, buf)
    atomic_write_text(pointer, buf.getvalue())
    published = publish(root, target, push, timeout, own_data=not recipe)
    return {**data_version(root, target), "recipe": recipe, **published}
