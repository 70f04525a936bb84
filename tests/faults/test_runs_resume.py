"""`geovr train --resume` refuses any change of what shapes the result, naming each field,
also when no step remains; the options listed in --help as safe may change."""

from __future__ import annotations

import json

import pytest

from tests.faults.inputs_support import assert_refused, fingerprint, geovr, geovr_data  # noqa: F401

BASE = ("--steps", "2", "--checkpoint-every", "1", "--num-workers", "0", "--batch-size", "1")

# (changed options, the fields the one-line error must name)
CHANGES = [
    (("--lr-model", "5e-4"), ["lr_model 0.001 -> 0.0005"]),  # the embedded preset's 1e-3
    (("--lr-heads", "5e-4", "--seed", "7"), ["lr_heads", "seed 0 -> 7"]),
    (("--batch-size", "2", "--grad-accum", "2"), ["batch_size 1 -> 2", "grad_accum 1 -> 2"]),
    (("--objectives", "lm,cam"), ["objectives"]),
    (("--loss-weights", "cam=1"), ["loss_weights"]),
    (("--nproc", "2"), ["ranks 1 -> 2"]),
    (("--steps", "3"), ["steps 2 -> 3"]),
    (("--student", "tiny:qwen2_5_vl"), ["tiny_family 'qwen3_vl' -> 'qwen2_5_vl'"]),
    (("--splits", "train,val"), ["splits"]),
    (("--data-dvc-md5", "abc"), ["data_version"]),
]


@pytest.fixture(scope="module")
def trained(geovr_data, tmp_path_factory):  # noqa: F811
    clips, targets = geovr_data
    out = tmp_path_factory.mktemp("resume") / "run"
    proc = geovr(
        "train", "--clips", clips, "--targets", targets, "--out", out, *BASE, cwd=out.parent
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return clips, targets, out


@pytest.mark.slow
@pytest.mark.parametrize(("changed", "named"), CHANGES, ids=[" ".join(c) for c, _ in CHANGES])
def test_resume_with_a_changed_result_option_is_refused_naming_it(trained, changed, named):
    clips, targets, out = trained
    before = fingerprint(out)
    args = dict(zip(BASE[::2], BASE[1::2], strict=True))
    args.update(zip(changed[::2], changed[1::2], strict=True))
    flat = [item for pair in args.items() for item in pair]

    proc = geovr(
        "train",
        "--clips",
        clips,
        "--targets",
        targets,
        "--out",
        out,
        *flat,
        "--resume",
        cwd=out.parent,
    )

    assert_refused(proc, "--resume: the configuration differs from the checkpoints'")
    for field in named:
        assert field in proc.stderr, (field, proc.stderr)
    assert fingerprint(out) == before


@pytest.mark.slow
def test_resume_with_only_the_safe_options_listed_in_help_changed_goes_on(trained):
    clips, targets, out = trained
    helped = " ".join(geovr("train", "--help", cwd=out.parent).stdout.split())
    assert "only tracking_uri, experiment, kfp_run_id, checkpoint_every, keep_last" in helped
    safe = (
        "--checkpoint-every",
        "5",
        "--keep-last",
        "3",
        "--num-workers",
        "1",
        "--experiment",
        "other",
        "--gradient-checkpointing",
    )
    proc = geovr(
        "train",
        "--clips",
        clips,
        "--targets",
        targets,
        "--out",
        out,
        "--steps",
        "2",
        "--batch-size",
        "1",
        *safe,
        "--resume",
        cwd=out.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1])["resumed_from"] == 2
