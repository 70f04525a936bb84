"""`geovr data get`: download the data of a committed revision of a data repository with
`dvc get`, without touching any checkout, verified against that revision's pointer.

    from geovr.data.download import checkout_revision
    checkout_revision(".", "v1", "runs/data-v1")     # {"action": "downloaded", "dvc_md5": ...}

The download replaces `out_dir` only when it is absent, empty, or an unmodified earlier
download (its md5 is recorded beside it), never a user's directory.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geovr.artifacts import atomic_write_text
from geovr.data.dvc_commands import (
    LOCAL_TIMEOUT,
    REMOTE_TIMEOUT,
    DataVersionError,
    dvc_cmd,
    run_command,
    run_remote,
    transfer_opts,
)
from geovr.data.versioning import (
    _manifest,
    _mismatch,
    _parse_pointer,
    _recorded,
    _swap_dir,
    dir_md5,
)
from geovr.errors import GeoVRError


def _repo_arg(repo: str | Path) -> str:
    """Local repos by absolute path: DVC then reads them in place (their cache and
    config.local included) instead of cloning."""
    return str(Path(repo).resolve()) if Path(repo).is_dir() else str(repo)


def _resolve_rev(repo: str, rev: str) -> str | None:
    if Path(repo).is_dir():
        return run_command(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=repo).strip()
    if re.fullmatch(r"[0-9a-f]{40}", rev):
        return rev
    lines = run_remote(["git", "ls-remote", repo, rev], timeout=LOCAL_TIMEOUT).split()
    return lines[0] if lines else None  # an abbreviated sha cannot be resolved remotely


def checkout_revision(
    repo: str | Path,
    rev: str,
    out_dir: str | Path,
    target: str = "data",
    jobs: int | None = None,
    remote: str | None = None,
    remote_config: Mapping[str, str] | None = None,
    timeout: float = REMOTE_TIMEOUT,
) -> dict[str, Any]:
    """Download `<target>/` as of git revision `rev` of `repo` (path or git URL) to `out_dir`.

    Uses `dvc get` (no checkout of the repo is touched), verifies the DVC md5 against the
    pointer at that revision and moves the data into place whole. An `out_dir` already
    holding exactly that version is left alone.
    """
    start = time.perf_counter()
    src, out = _repo_arg(repo), Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.get.", dir=out.parent) as tmp:
        work = Path(tmp)
        run_remote(
            dvc_cmd("get", src, f"{target}.dvc", "--rev", rev, "-o", work / "pointer"),
            timeout=timeout,
        )
        recorded = _recorded(_parse_pointer((work / "pointer").read_text(), f"{target}.dvc@{rev}"))
        summary = {"rev": rev, "git_rev": _resolve_rev(src, rev), "out": str(out), **recorded}
        if out.is_dir() and dir_md5(out) == recorded["dvc_md5"]:
            return {**summary, "action": "none", "seconds": round(time.perf_counter() - start, 2)}
        _check_replaceable(out)
        cmd = dvc_cmd(
            "get", src, target, "--rev", rev, "-o", work / "data", *transfer_opts(jobs, remote)
        )
        # --remote-config takes a list, so it must come last.
        cmd += (
            ["--remote-config", *(f"{k}={v}" for k, v in remote_config.items())]
            if remote_config
            else []
        )
        run_remote(cmd, timeout=timeout)
        got = _manifest(work / "data")
        if got[0] != recorded["dvc_md5"]:
            raise DataVersionError(_mismatch(f"{target}/ downloaded at {rev}", got, recorded, None))
        _swap_dir(work / "data", out)
        atomic_write_text(_download_record(out), json.dumps({"stage": "data get", **recorded}))
    return {**summary, "action": "downloaded", "seconds": round(time.perf_counter() - start, 2)}


def _download_record(out: Path) -> Path:
    """What `geovr data get` downloaded into `out`, kept beside it: a file inside would change
    the data's md5."""
    return out.with_name(f".{out.name}.geovr-data-get.json")


def _check_replaceable(out: Path) -> None:
    """`out` may be replaced only if absent, empty, or an unmodified earlier download (its md5
    still the one recorded when it was downloaded): never a user's directory or edited data."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    try:
        record = json.loads(_download_record(out).read_text())
    except (OSError, ValueError):
        record = {}
    if (
        not out.is_dir()
        or record.get("stage") != "data get"
        or dir_md5(out) != record.get("dvc_md5")
    ):
        raise GeoVRError(
            f"--out {out} is not empty and is not an unmodified `geovr data get` "
            "download; refusing to replace it: choose an absent or empty directory"
        )
