"""geovr's MLflow probe calls an API route, so a server that answers /health but refuses the
caller's Host header (403 Invalid Host header) is reported, and training buffers saying why."""

import pytest

from geovr.tracking import server_problem
from geovr.train.tracking import Tracker, read_buffer
from tests.registry.servers import MLFLOW_START_S, free_port, mlflow_server_cmd, running


@pytest.mark.integration
@pytest.mark.slow
def test_a_server_refusing_our_host_name_is_detected(tmp_path, capfd):
    port = free_port()
    # the server accepts the name "localhost" only: 127.0.0.1 gets its 403 on every API call
    cmd = [
        *mlflow_server_cmd(port, tmp_path / "mlflow.db", str(tmp_path / "artifacts")),
        "--allowed-hosts",
        f"localhost:{port}",
    ]
    with running(cmd, f"http://127.0.0.1:{port}/health", tmp_path / "mlflow.log", MLFLOW_START_S):
        refused = f"http://127.0.0.1:{port}"
        assert "403" in server_problem(refused)
        assert server_problem(f"http://localhost:{port}") is None
        tracker = Tracker(tmp_path / "run", refused, "exp", {"lr": 1}, enabled=True)
    assert not tracker.online
    assert "403" in capfd.readouterr().err
    assert read_buffer(tmp_path / "run")[0]["params"] == {"lr": "1"}
