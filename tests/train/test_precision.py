"""The precision policy on a student saved the way a hub release is (bf16), under real 2-rank
torchrun (gloo): .venv/bin/pytest -q tests/train/test_precision.py"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from geovr.model.tiny import build_tiny_student

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _release(model, processor, out, dtype):
    """What a hub release holds: the weights in `dtype`, config, processor and tokenizer."""
    model.to(dtype).save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _geovr_train(data, student, out, parallelism):
    clips, targets = data
    command = [
        sys.executable,
        "-m",
        "geovr",
        "train",
        "--clips",
        str(clips),
        "--targets",
        str(targets),
        "--out",
        str(out),
        "--student",
        str(student),
        "--parallelism",
        parallelism,
        "--nproc",
        "2",
        "--steps",
        "2",
        "--batch-size",
        "1",
        "--num-workers",
        "0",
        "--lr-model",
        "1e-3",
        "--lr-heads",
        "1e-3",
        "--checkpoint-every",
        "2",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    checkpoint = out / "checkpoint"
    return load_file(checkpoint / "model.safetensors"), load_file(
        checkpoint / "geovr_heads.safetensors"
    )


@pytest.mark.parametrize("parallelism", ["ddp", "fsdp2"])
def test_a_bf16_release_trains_like_its_fp32_upcast_and_comes_out_bf16(
    geovr_data, tmp_path, parallelism
):
    model, processor = build_tiny_student("qwen3_vl", seed=3)
    bf16 = _release(model, processor, tmp_path / "release-bf16", torch.bfloat16)
    fp32 = _release(model, processor, tmp_path / "release-fp32", torch.float32)  # exact upcast
    student, heads = _geovr_train(geovr_data, bf16, tmp_path / "train-bf16", parallelism)
    upcast_student, upcast_heads = _geovr_train(
        geovr_data, fp32, tmp_path / "train-fp32", parallelism
    )

    assert {t.dtype for t in student.values()} == {torch.bfloat16}, "a bf16 release comes out bf16"
    assert {t.dtype for t in upcast_student.values()} == {torch.float32}
    assert student.keys() == upcast_student.keys()
    for key, value in student.items():  # one trajectory in fp32 master weights
        assert torch.equal(value, upcast_student[key].to(torch.bfloat16)), key
    assert {t.dtype for t in heads.values()} == {torch.float32}, "new heads stay fp32"
    assert heads.keys() == upcast_heads.keys()
    for key, value in heads.items():
        assert torch.equal(value, upcast_heads[key]), key

    released = load_file(bf16 / "model.safetensors")
    layers = [k for k in released if "language_model.layers" in k]
    moved = sum(int((student[k] != released[k]).sum()) for k in layers)
    assert moved > 0.5 * sum(released[k].numel() for k in layers), "updates rounded away"
    vision = [k for k in released if ".visual.blocks." in k]
    assert vision and all(torch.equal(student[k], released[k]) for k in vision)
