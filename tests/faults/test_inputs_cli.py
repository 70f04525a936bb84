"""Bad values for every option of train, evaluate, distill and ingest: each is refused before
any work with exit 2 and one line naming the problem, no traceback, no byte of the inputs
changed and no output directory made.

The stages run as real subprocesses on a clip set and targets made by the real stages, a
second clip set (another seed) for the "targets of another clip set" cases, and a tiny
checkpoint saved by geovr.model.save_student (the format `geovr train` writes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.faults.inputs_support import assert_refused, fingerprint, geovr
from tests.geovr_data import make_geovr_data

TRAIN = ("train", "--clips", "{clips}", "--targets", "{targets}", "--steps", "1")
EVALUATE = ("evaluate", "--checkpoint", "{checkpoint}", "--clips", "{clips}")
DISTILL = ("distill", "--clips", "{clips}", "--teacher", "oracle")
INGEST = ("ingest", "--data", "{data}", "--frames", "4")

# (command, bad arguments, a fragment the one-line error must hold). Values refused in one
# line already before issue 18 are not repeated here (--frames 1, --workers 0, an unknown
# teacher, a bad --shard-range or -o, a directory without config.json, ...).
CASES = [
    (TRAIN, ("--lr-model", "nan"), "'--lr-model': 'nan' is not a finite number"),
    (TRAIN, ("--lr-model", "inf"), "'--lr-model': 'inf' is not a finite number"),
    (TRAIN, ("--lr-heads", "-1e-4"), "'--lr-heads': '-1e-4' is below the minimum 0"),
    (TRAIN, ("--lr-model", "fast"), "'--lr-model': 'fast' is not a number"),
    (TRAIN, ("--loss-weights", "foo=1"), "'foo=1': expected OBJECTIVE=WEIGHT"),
    (TRAIN, ("--loss-weights", "cam=-2"), "'--loss-weights': '-2' is below the minimum 0"),
    (TRAIN, ("--loss-weights", "depth=nan"), "'nan' is not a finite number"),
    (TRAIN, ("--loss-weights", "cam"), "'cam': expected OBJECTIVE=WEIGHT"),
    (TRAIN, ("--student", "/nonexistent"), "--student /nonexistent: no such directory"),
    (TRAIN, ("--student", "{clips}"), "the directory has no config.json"),
    (TRAIN, ("--student", "tiny:llama"), "tiny families are qwen3_vl, qwen2_5_vl"),
    (TRAIN, ("--student", "tiny:qwen3_vl:100x2"), "hidden a multiple of 32"),
    (TRAIN, ("--splits", "holdout"), "'--splits': 'holdout'"),
    (TRAIN, ("--splits", ","), "'--splits': ','"),
    (TRAIN, ("--objectives", "lm,pose"), "unknown objectives ['pose']"),
    (TRAIN, ("--targets", "{other_targets}"), "is not for the clip set"),
    (TRAIN, ("--targets", "{clips}"), "'--targets'"),
    (TRAIN, ("--clips", "{targets}"), "'--clips'"),
    (TRAIN, ("--clips", "{root}/nowhere"), "is not a directory"),
    (TRAIN, ("--seed", "-1"), "'--seed'"),
    (TRAIN, ("--steps", "0"), "'--steps'"),
    (TRAIN, ("--batch-size", "0"), "'--batch-size'"),
    (TRAIN, ("--grad-accum", "two"), "'--grad-accum'"),
    (TRAIN, ("--nproc", "0"), "'--nproc'"),
    (TRAIN, ("--max-side", "8"), "'--max-side'"),
    (TRAIN, ("--num-workers", "-1"), "'--num-workers'"),
    (TRAIN, ("--checkpoint-every", "0"), "'--checkpoint-every'"),
    (TRAIN, ("--keep-last", "0"), "'--keep-last'"),
    (TRAIN, ("--parallelism", "tp"), "'--parallelism'"),
    (TRAIN, ("--precision", "fp8"), "'--precision'"),
    (EVALUATE, ("--checkpoint", "{corrupt_checkpoint}"), "is not a readable safetensors file"),
    (EVALUATE, ("--device", "cuda:7"), "'cuda:7': this machine has"),
    (EVALUATE, ("--device", "gpu"), "'gpu': expected auto, cpu, cuda or cuda:N"),
    (EVALUATE, ("--splits", "holdout"), "'--splits': 'holdout'"),
    (EVALUATE, ("--targets", "{other_targets}"), "is not for the clip set"),
    (EVALUATE, ("--clips", "{targets}"), "'--clips'"),
    (EVALUATE, ("--max-questions", "0"), "'--max-questions'"),
    (EVALUATE, ("--max-new-tokens", "-1"), "'--max-new-tokens'"),
    (DISTILL, ("--device", "cuda:7"), "'cuda:7': this machine has"),
    (DISTILL, ("--device", "tpu"), "'tpu': expected auto, cpu, cuda or cuda:N"),
    (DISTILL, ("--clips", "{targets}"), "'--clips'"),
    (DISTILL, ("--batch-size", "0"), "'--batch-size'"),
    (INGEST, ("--frames", "many"), "'--frames': 'many' is not a valid integer"),
    (INGEST, ("--min-input-side", "0"), "--min-input-side <= --max-input-side"),
    (INGEST, ("--min-input-side", "64", "--max-input-side", "32"), "got 64 and 32"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    from geovr.model import GeoVRConfig, GeoVRModel, HeadWidths, build_tiny_student, save_student
    from geovr.model.config import teacher_feature_dim

    root = tmp_path_factory.mktemp("inputs")
    (root / "main").mkdir()
    clips, targets = make_geovr_data(root / "main")
    other = root / "other"  # the same scene names, other videos: synthesised with another seed
    for stage in (
        (
            "data",
            "synth",
            "--out",
            "data",
            "--scenes",
            "4",
            "--frames",
            "4",
            "--size",
            "64",
            "--seed",
            "1",
        ),
        ("ingest", "--data", "data", "--out", "clips", "--frames", "4", "--no-progress"),
        ("distill", "--clips", "clips", "--teacher", "oracle", "--out", "targets", "--no-progress"),
    ):
        other.mkdir(exist_ok=True)
        assert geovr(*stage, cwd=other).returncode == 0
    student, processor = build_tiny_student("qwen3_vl")
    config = GeoVRConfig(widths=HeadWidths.tiny(), teacher_feature_dim=teacher_feature_dim(targets))
    checkpoint = save_student(GeoVRModel(student, config), root / "checkpoint", processor)
    corrupt = root / "corrupt_checkpoint"
    shutil.copytree(checkpoint, corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a cut-off copy
    return {
        "root": root,
        "clips": clips,
        "targets": targets,
        "data": root / "main/data",
        "other_targets": other / "targets",
        "checkpoint": Path(checkpoint),
        "corrupt_checkpoint": corrupt,
    }


@pytest.mark.parametrize(
    ("command", "bad", "fragment"), CASES, ids=[f"{c[0]}{' '.join(b)}" for c, b, _ in CASES]
)
@pytest.mark.slow
def test_a_bad_value_is_refused_in_one_line_before_any_work(
    workspace, command, bad, fragment, tmp_path
):
    root = workspace["root"]
    out = tmp_path / "out"
    argv = [arg.format(**workspace) for arg in (*command, "--out", str(out), *bad)]
    before = fingerprint(root)

    proc = geovr(*argv, cwd=root)

    assert_refused(proc, fragment.format(**workspace))
    assert not out.exists()
    assert fingerprint(root) == before
