"""A registry-wide lock for alias moves: the gate's decision and the `champion` move happen
while one process holds it, against the champion that is current at the move.

    with promotion_lock(client, "geovr-student", who="registration") as lock:
        champion = ...                  # read, decide
        lock.confirm()                  # still ours, and not about to expire
        client.set_registered_model_alias(...)

MLflow has no transactions and no compare-and-set on tags or aliases, but creating a
registered model is atomic: the name is the table's primary key, so of two concurrent
creates one fails with RESOURCE_ALREADY_EXISTS. The lock is a registered model named
`<model>--promotion-lock` whose tags say who holds it and until when (docs/decisions.md).
A holder that died leaves a lock that others break once it has expired; `confirm` before
the move catches the one interleaving where two breakers both think they hold it.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from geovr.errors import GeoVRError

LOCK_SUFFIX = "--promotion-lock"
HOLD_S = 300.0  # a holder needs seconds; a lock this old belongs to a dead process
WAIT_S = 600.0
CONFIRM_MARGIN_S = 30.0  # confirm refuses a lock this close to its expiry


class LockLost(GeoVRError):
    """The lock expired or was taken over before the alias move."""


def lock_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def _missing(e: MlflowException) -> bool:
    return e.error_code == "RESOURCE_DOES_NOT_EXIST"


@dataclass(frozen=True)
class PromotionLock:
    """A held lock: its registered-model name and this holder's unique token."""

    client: MlflowClient
    name: str
    token: str

    def holder(self) -> tuple[str, float] | None:
        """(owner token, expiry as a Unix time) of whoever holds the lock now; None if free."""
        try:
            tags = self.client.get_registered_model(self.name).tags
        except MlflowException as e:
            if _missing(e):
                return None
            raise
        return tags.get("owner", ""), float(tags.get("expires_at", "0"))

    def confirm(self) -> None:
        """LockLost unless this process still holds the lock with time to spare."""
        holder = self.holder()
        if holder is None or holder[0] != self.token:
            raise LockLost(f"registry lock {self.name} was taken over; nothing was moved")
        if holder[1] - time.time() < CONFIRM_MARGIN_S:
            raise LockLost(f"registry lock {self.name} is about to expire; nothing was moved")


def _try_create(client: MlflowClient, name: str, token: str, hold_s: float) -> bool:
    """True if this call created the lock; False if someone else holds it (or just did)."""
    tags = {"owner": token, "expires_at": f"{time.time() + hold_s:.3f}"}
    try:
        client.create_registered_model(
            name, tags=tags, description="geovr promotion lock: held while an alias moves"
        )
        return True
    except MlflowException as e:
        # On a duplicate name MLflow's SQL store reads the existing model to word its
        # error; a holder that released in between turns that read into "does not
        # exist". Either way another process held the lock at our insert: a lost race.
        if e.error_code == "RESOURCE_ALREADY_EXISTS" or _missing(e):
            return False
        raise


def _break_if_expired(lock: PromotionLock) -> str:
    """Delete the lock if its holder's time is up; returns who holds it (for messages)."""
    holder = lock.holder()
    if holder is None:
        return "nobody"
    owner, expires_at = holder
    if expires_at < time.time():
        with contextlib.suppress(MlflowException):  # another waiter broke it first
            lock.client.delete_registered_model(lock.name)
    return owner


def _release(lock: PromotionLock) -> None:
    holder = lock.holder()
    if holder is not None and holder[0] == lock.token:
        with contextlib.suppress(MlflowException):
            lock.client.delete_registered_model(lock.name)


@contextlib.contextmanager
def promotion_lock(
    client: MlflowClient,
    model_name: str,
    who: str,
    hold_s: float = HOLD_S,
    wait_s: float = WAIT_S,
) -> Iterator[PromotionLock]:
    """Hold `model_name`'s promotion lock for the block; GeoVRError after `wait_s`."""
    token = f"{who}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lock = PromotionLock(client, lock_name(model_name), token)
    deadline = time.monotonic() + wait_s
    while not _try_create(client, lock.name, token, hold_s):
        owner = _break_if_expired(lock)
        if time.monotonic() > deadline:
            raise GeoVRError(
                f"registry lock {lock.name} still held by {owner} after {wait_s:g} s; it "
                f"expires by itself {hold_s:g} s after it was taken"
            )
        time.sleep(random.uniform(0.1, 0.6))  # jitter: waiters do not retry in step
    try:
        yield lock
    finally:
        _release(lock)
