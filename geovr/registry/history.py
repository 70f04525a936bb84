"""The append-only promotion history of a registered model's alias: who moved it, when,
from which version to which, and why; gate rejections are recorded too.

    entries = read_history(client, "geovr-student")
    rollback_target(entries, current="3")      # where one rollback step goes, or None

Entries are registered-model tags `history.<alias>.<seq>` (JSON), written only while the
promotion lock is held (lock.py), so sequence numbers never collide and no entry is ever
rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from mlflow import MlflowClient

# What an entry records: a gate promotion, a gate rejection (the alias did not move), an
# explicit move by version, a rollback.
GATE, REJECT, MANUAL, ROLLBACK = "gate", "reject", "manual", "rollback"
WHY_LIMIT = 1000  # characters of the reason kept (tag values are limited)


@dataclass(frozen=True)
class HistoryEntry:
    """One event of an alias: `version` is the one it concerns; `from_version` and
    `to_version` the alias holder before and after (None: unset)."""

    seq: int
    action: str
    version: str
    from_version: str | None
    to_version: str | None
    who: str
    when: str
    why: str


def _prefix(alias: str) -> str:
    return f"history.{alias}."


def read_history(client: MlflowClient, model_name: str, alias: str) -> list[HistoryEntry]:
    """Every entry of `alias`, oldest first."""
    tags = client.get_registered_model(model_name).tags
    prefix = _prefix(alias)
    entries = [HistoryEntry(**json.loads(v)) for k, v in tags.items() if k.startswith(prefix)]
    return sorted(entries, key=lambda entry: entry.seq)


def append_entry(
    client: MlflowClient,
    model_name: str,
    alias: str,
    action: str,
    version: str,
    moved: tuple[str | None, str | None],
    who: str,
    why: str,
) -> HistoryEntry:
    """Add the next entry (call with the promotion lock held); `moved` is (from, to)."""
    seq = len(read_history(client, model_name, alias)) + 1
    entry = HistoryEntry(
        seq,
        action,
        version,
        moved[0],
        moved[1],
        who,
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        why[:WHY_LIMIT],
    )
    client.set_registered_model_tag(
        model_name, f"{_prefix(alias)}{seq:06d}", json.dumps(asdict(entry), sort_keys=True)
    )
    return entry


def excluded_versions(history: Sequence[HistoryEntry]) -> set[str]:
    """Versions a rollback must not bring back: rejected by the gate or rolled back from,
    unless an explicit promotion by version came later."""
    excluded: set[str] = set()
    for entry in history:
        if entry.action == REJECT:
            excluded.add(entry.version)
        elif entry.action == ROLLBACK and entry.from_version:
            excluded.add(entry.from_version)
        elif entry.action == MANUAL:
            excluded.discard(entry.version)
    return excluded


def rollback_target(history: Sequence[HistoryEntry], current: str) -> str | None:
    """The newest earlier holder of the alias that is neither the current one nor excluded:
    walking back one step per call, never forward again."""
    excluded = excluded_versions(history) | {current}
    for entry in reversed(history):
        if entry.action != REJECT and entry.from_version and entry.from_version not in excluded:
            return entry.from_version
    return None
