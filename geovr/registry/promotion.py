"""Moving aliases between versions of a registered model: explicit promotion, rollback,
copying a version into a per-environment model. Versions are never deleted.

    from geovr.registry.connection import connect
    from geovr.registry.promotion import promote, rollback
    client = connect("http://mlflow:5000")
    promote(client, "geovr-student", "3")                  # champion -> v3
    rollback(client, "geovr-student")                      # champion one step back
    promote(client, "geovr-student", "3", copy_to="geovr-student-prod")

Every move of a model's alias holds its promotion lock (lock.py) and appends to its history
(history.py), which rollbacks walk. The new holder also gets `<alias>.previous` (the version
that held the alias, or "none"), `<alias>.promoted_by` and `<alias>.promoted_at` tags.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from geovr.errors import GeoVRError
from geovr.registry.connection import identity, registry_call
from geovr.registry.gate import LEAKAGE_KEY
from geovr.registry.history import MANUAL, ROLLBACK, append_entry, read_history, rollback_target
from geovr.registry.lock import PromotionLock, promotion_lock

CHAMPION = "champion"
CHALLENGER = "challenger"
NO_VERSION = "none"
LEAKY_OVERRIDE_TAG = "promotion.leaky_override"


@dataclass(frozen=True)
class Promotion:
    """An alias move: `alias` of `model_name` now points at `version` (was `previous`)."""

    model_name: str
    alias: str
    version: str
    previous: str | None
    copied_to: str | None = None
    copied_version: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "alias": self.alias,
            "version": self.version,
            "previous": self.previous,
            "copied_to": self.copied_to,
            "copied_version": self.copied_version,
        }


def alias_holder(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the alias (or the model) is not set."""
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in e.message.lower():
            return None
        raise


def get_version(client: MlflowClient, model_name: str, version: str) -> ModelVersion:
    """A model version, with a clear error when the model or version does not exist."""
    mv = registry_call(
        f"model {model_name!r} version {version}", client.get_model_version, model_name, version
    )
    if mv.status != "READY":
        raise GeoVRError(f"model {model_name!r} version {version} is {mv.status}, not READY")
    return mv


def move_alias(
    client: MlflowClient, model_name: str, alias: str, version: str, by: str
) -> Promotion:
    """Point `alias` at `version`, recording the previous holder on the new one."""
    get_version(client, model_name, version)
    holder = alias_holder(client, model_name, alias)
    previous = str(holder.version) if holder else None
    if previous != version:
        # Re-promoting the holder must not overwrite the record of where it came from.
        tags = {
            f"{alias}.previous": previous or NO_VERSION,
            f"{alias}.promoted_by": by,
            f"{alias}.promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)
        client.set_registered_model_alias(model_name, alias, version)
    return Promotion(model_name, alias, version, previous)


def copy_version(
    client: MlflowClient, model_name: str, version: str, copy_to: str, alias: str
) -> str:
    """Copy a version into the registered model `copy_to` (created if missing) and point the
    same alias there at the copy; returns the copy's version.

    The copy's source is `models:/<model>/<version>` and it carries the version's tags, so
    the artifacts are shared, not duplicated.
    """
    copied = registry_call(
        f"copy {model_name!r} version {version} to {copy_to!r}",
        client.copy_model_version,
        f"models:/{model_name}/{version}",
        copy_to,
    )
    client.set_model_version_tag(copy_to, copied.version, "copied_from", f"{model_name}/{version}")
    move_alias(client, copy_to, alias, str(copied.version), by=f"copy of {model_name}/{version}")
    return str(copied.version)


def _with_copy(client: MlflowClient, moved: Promotion, copy_to: str | None) -> Promotion:
    if not copy_to:
        return moved
    copied = copy_version(client, moved.model_name, moved.version, copy_to, moved.alias)
    return replace(moved, copied_to=copy_to, copied_version=copied)


def locked_move(
    client: MlflowClient,
    model_name: str,
    alias: str,
    version: str,
    action: str,
    why: str,
    lock: PromotionLock,
) -> Promotion:
    """Move `alias` to `version` and append the history entry; the caller holds `lock`."""
    lock.confirm()
    moved = move_alias(client, model_name, alias, version, by=action)
    append_entry(
        client, model_name, alias, action, version, (moved.previous, version), identity(), why
    )
    return moved


def trained_on_clips(version: ModelVersion) -> int:
    """How many evaluated clips the version was trained on (its metrics tag; 0 when the
    overlap is unknown or was not measured: the gate says so in its reasons)."""
    overlap = version.tags.get(f"metric.{LEAKAGE_KEY}")
    return max(int(float(overlap)), 0) if overlap else 0


def promote(
    client: MlflowClient,
    model_name: str,
    version: str,
    alias: str = CHAMPION,
    copy_to: str | None = None,
    why: str = "explicit promotion",
    allow_leaky: bool = False,
) -> Promotion:
    """Point `alias` (default champion) at `version`, whatever the history says (an explicit
    choice); optionally copy it to `copy_to`. A version evaluated on clips it was trained on
    is refused unless `allow_leaky`; the override is then tagged on the version
    (`promotion.leaky_override`: who, when, why) and named in the history entry."""
    leaked = trained_on_clips(get_version(client, model_name, str(version)))
    if leaked and not allow_leaky:
        raise GeoVRError(
            f"{model_name!r} v{version} was evaluated on {leaked} clip(s) it was trained on, so "
            "its score measures memory: evaluate it on held-out clips, or pass --allow-leaky"
        )
    if leaked:
        why = f"{why} (--allow-leaky: evaluated on {leaked} training clip(s))"
    with promotion_lock(client, model_name, identity()) as lock:
        if leaked:
            when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            registry_call(
                f"tag {model_name} v{version} with the leakage override",
                client.set_model_version_tag,
                model_name,
                str(version),
                LEAKY_OVERRIDE_TAG,
                f"{identity()} at {when}: {why}",
            )
        moved = locked_move(client, model_name, alias, str(version), MANUAL, why, lock)
    return _with_copy(client, moved, copy_to)


def rollback(
    client: MlflowClient,
    model_name: str,
    alias: str = CHAMPION,
    copy_to: str | None = None,
    why: str = "rollback",
) -> Promotion:
    """Move `alias` one step back along its history: to the newest earlier holder that was
    neither rejected nor rolled back from (history.rollback_target)."""
    with promotion_lock(client, model_name, identity()) as lock:
        holder = alias_holder(client, model_name, alias)
        if holder is None:
            raise GeoVRError(f"model {model_name!r} has no {alias!r} alias to roll back")
        target = rollback_target(read_history(client, model_name, alias), str(holder.version))
        if target is None:
            raise GeoVRError(
                f"{model_name!r} {alias} v{holder.version} has no previous holder to roll back "
                f"to that was not rolled back or rejected; name a version: "
                f"geovr promote --model {model_name} --version V"
            )
        moved = locked_move(
            client, model_name, alias, target, ROLLBACK, f"{why} (from v{holder.version})", lock
        )
    return _with_copy(client, moved, copy_to)
