"""The promotion lock on a real `mlflow server`: a held lock makes others wait (and name
the holder when they give up); the lock of a holder that died is broken after its expiry,
and the old holder can no longer confirm it. And on MLflow's own SQL store, the release
that lands between a waiter's failed insert and the store's follow-up read (seen in CI)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from geovr.errors import GeoVRError
from geovr.registry import RetryBudget, connect
from geovr.registry.lock import LockLost, lock_name, promotion_lock


@pytest.mark.integration
@pytest.mark.slow
def test_held_lock_blocks_and_an_expired_one_is_broken(mlflow_server, model_name):
    client = connect(mlflow_server, RetryBudget(total_s=120))
    with promotion_lock(client, model_name, "first") as first:
        first.confirm()
        with (
            pytest.raises(GeoVRError, match=r"still held by first@"),
            promotion_lock(client, model_name, "second", wait_s=1.0),
        ):
            pass
    assert client.search_registered_models(f"name = '{lock_name(model_name)}'") == []

    # A holder that dies inside the block never releases; its lock expires instead.
    dead = promotion_lock(client, model_name, "dead", hold_s=1.0)
    dead_lock = dead.__enter__()
    with promotion_lock(client, model_name, "next", wait_s=120.0) as taken:
        taken.confirm()
        with pytest.raises(LockLost, match="taken over"):
            dead_lock.confirm()
    assert client.search_registered_models(f"name = '{lock_name(model_name)}'") == []


def test_a_release_between_insert_and_read_is_a_lost_race(sqlite_uri, model_name, monkeypatch):
    """MLflow's store answers a duplicate insert by reading the existing model to word its
    error; when the holder deletes the lock in that gap the waiter gets "does not exist".
    The waiter must retry and take the lock, not fail the registration."""
    client = MlflowClient(tracking_uri=sqlite_uri, registry_uri=sqlite_uri)
    holder = promotion_lock(client, model_name, "holder")
    holder.__enter__()
    store_read = SqlAlchemyStore.get_registered_model
    released = []

    def read_after_the_holder_released(store, name):
        if name == lock_name(model_name) and not released:
            released.append(name)
            holder.__exit__(None, None, None)
        return store_read(store, name)

    monkeypatch.setattr(SqlAlchemyStore, "get_registered_model", read_after_the_holder_released)
    with promotion_lock(client, model_name, "waiter", wait_s=30.0) as taken:
        taken.confirm()
    assert released, "the interleaving under test did not happen"
    assert client.search_registered_models(f"name = '{lock_name(model_name)}'") == []
