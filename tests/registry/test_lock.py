"""The promotion lock on a real `mlflow server`: a held lock makes others wait (and name
the holder when they give up); the lock of a holder that died is broken after its expiry,
and the old holder can no longer confirm it."""

from __future__ import annotations

import pytest

from geovr.errors import GeoVRError
from geovr.registry import RetryBudget, connect
from geovr.registry.lock import LockLost, lock_name, promotion_lock

pytestmark = [pytest.mark.integration, pytest.mark.slow]


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
