"""Every stage records the resolved config it ran with and the preset it came from (meta.json
`run_config`), so a run's settings are read from its output, not reconstructed from four files.
"""

from __future__ import annotations

import json

from geovr.cli import main
from geovr.config.presets import PAPER
from tests.data.clip_builders import make_dataset


def test_ingest_and_distill_record_the_preset_and_the_resolved_config(tmp_path, capsys):
    data = make_dataset(tmp_path / "data", n_clips=2, frames=8)
    clips, targets = tmp_path / "clips", tmp_path / "targets"
    common = ["--preset", "paper", "--no-progress"]
    ingest = ["ingest", *common, "--data", str(data), "--out", str(clips)]
    # the paper's 2 fps rule, overridden to a count small enough for the 8-frame test videos
    assert main([*ingest, "--sampling", "count", "--frames", "4", "--workers", "1"]) == 0
    record = json.loads((clips / "meta.json").read_text())["run_config"]
    assert record["preset"] == "paper"
    assert record["ingest"]["frames"] == 4 and record["ingest"]["sampling"] == "count"  # given
    assert record["ingest"]["max_side"] == PAPER.ingest.max_side == 504  # from the preset

    distill = ["distill", *common, "--clips", str(clips), "--out", str(targets)]
    assert main([*distill, "--teacher", "oracle", "--scale-teacher", ""]) == 0
    record = json.loads((targets / "meta.json").read_text())["run_config"]
    assert record["preset"] == "paper"
    assert record["distill"]["teacher"] == "oracle"
    assert record["distill"]["batch_size"] == PAPER.distill.batch_size
