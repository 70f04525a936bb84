"""Publishing a data version to the default DVC remote, so other clones get it with `dvc pull`.

    from geovr.data.publish import publish
    publish(Path("."), "data", push=True, timeout=600, own_data=False)   # {"pushed": True}

The project's default remote is the per-user store `~/.cache/geovr/dvcstore`: right for the
regenerable synthetic set (nothing else holds it), wrong for a user's own videos, which live in
their remote and would be copied whole into their home directory. So own data goes to the
default remote only when the user made it another store (`dvc remote default`, or `dvc remote
modify --local localstore url ...`); otherwise they push it themselves (`dvc push -r s3`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from geovr.data.dvc_commands import CommandError, dvc_cmd, run_command, run_remote

log = logging.getLogger(__name__)

USER_STORE = Path("~/.cache/geovr/dvcstore")  # `localstore`'s url in the committed .dvc/config


def remote_url(root: Path, remote: str | None = None) -> tuple[str | None, str | None]:
    """(name, url) of `remote`, or of the repository's default remote, as DVC resolves them
    (None where there is no such remote or it has no url)."""
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    name = remote or config["core"].get("remote")
    return name, config["remote"].get(name, {}).get("url") if name else None


def _is_user_store(url: str | None) -> bool:
    if not url or "://" in url:
        return False
    return Path(url).expanduser().resolve() == USER_STORE.expanduser().resolve()


def publish(root: Path, target: str, push: bool, timeout: float, own_data: bool) -> dict[str, Any]:
    """Save `<target>/` (already matching its pointer) in the DVC cache and push it to the
    default remote. A failed push is reported, not raised: the data here is right, only the
    other clones lack it. Own data (no generator recipe) is not copied into the per-user store."""
    if not push:
        return {"pushed": False}
    if own_data and _is_user_store(remote_url(root)[1]):
        return {
            "pushed": False,
            "push_skipped": f"{target}/ is your own data: not copied into {USER_STORE}; push it "
            f"to your remote (`dvc push {target}.dvc -r REMOTE`)",
        }
    try:
        # `dvc commit` of a matching out rewrites the pointer unchanged; it caches regenerated data.
        run_command(dvc_cmd("commit", "--force", "--quiet", f"{target}.dvc"), cwd=root)
        run_remote(dvc_cmd("push", "--quiet", f"{target}.dvc"), cwd=root, timeout=timeout)
    except CommandError as e:
        log.warning("%s/ is here but was not pushed to the default remote: %s", target, e)
        return {"pushed": False, "push_error": str(e)}
    return {"pushed": True}
