"""The model-side training options a 2B run needs: attention kernels, gradient checkpointing and
weight-decay groups (in process): .venv/bin/pytest -q tests/train/test_model_options.py"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from transformers import Trainer

from geovr.config.train import TrainConfig
from geovr.errors import GeoVRError
from geovr.model.tiny import build_tiny_student
from geovr.train.geovr_task import GeoVRTask
from geovr.train.loop import build_optimizer
from geovr.train.precision import master_weights
from geovr.train.run import run_training

QWEN3_VL_2B_PARAMETERS = 2_127_532_032


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    build_tiny_student("qwen3_vl", out_dir=out)
    return out


def _task(student_dir, **options) -> GeoVRTask:
    # the model is built without reading clips or targets: only the names are needed
    return GeoVRTask(
        clips="unused", targets="unused", student=str(student_dir), head_widths="tiny", **options
    )


def test_gradient_checkpointing_is_on_by_default_above_a_billion_parameters():
    default = TrainConfig()
    assert default.wants_gradient_checkpointing(QWEN3_VL_2B_PARAMETERS)
    assert not default.wants_gradient_checkpointing(1_500_000)  # a tiny student
    assert TrainConfig(gradient_checkpointing="on").wants_gradient_checkpointing(1_500_000)
    off = TrainConfig(gradient_checkpointing="off")
    assert not off.wants_gradient_checkpointing(QWEN3_VL_2B_PARAMETERS)
    with pytest.raises(ValueError, match="gradient_checkpointing"):
        TrainConfig(gradient_checkpointing="yes")
    with pytest.raises(ValueError, match="attn_implementation"):
        TrainConfig(attn_implementation="flash")
    with pytest.raises(ValueError, match="pack_tokens needs attn_implementation sdpa or eager"):
        TrainConfig(attn_implementation="flash_attention_2", pack_tokens=16384)
    assert TrainConfig(attn_implementation="flash_attention_2").pack_tokens == 0


def test_the_student_gets_the_configured_attention_and_checkpointing(student_dir):
    task = _task(student_dir, objectives=("lm",))
    default = task.build_model(TrainConfig()).student
    assert default.config._attn_implementation == "sdpa"
    assert not default.is_activation_checkpointing  # 1.5 M parameters: below the threshold
    chosen = task.build_model(TrainConfig(attn_implementation="eager", gradient_checkpointing="on"))
    assert chosen.student.config._attn_implementation == "eager"
    assert chosen.student.config.vision_config._attn_implementation == "eager"
    assert chosen.student.is_activation_checkpointing


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is not None, reason="flash-attn here")
@pytest.mark.slow
def test_flash_attention_without_the_package_is_a_one_line_error(geovr_data, tmp_path):
    clips, _ = geovr_data  # a real clip set: the CLI checks its inputs first
    with pytest.raises(GeoVRError, match="needs the flash-attn package"):
        run_training(
            str(clips),
            None,
            tmp_path / "run",
            objectives="lm",
            attn_implementation="flash_attention_2",
        )
    assert not (tmp_path / "run").exists()
    command = [
        sys.executable,
        "-m",
        "geovr",
        "train",
        "--clips",
        str(clips),
        "--out",
        str(tmp_path / "cli"),
        "--objectives",
        "lm",
        "--attn-implementation",
        "flash_attention_2",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "needs the flash-attn package" in proc.stderr.strip().splitlines()[-1]


def test_weight_decay_spares_norms_biases_and_geometry_tokens_like_hf_trainer(student_dir):
    task, cfg = _task(student_dir), TrainConfig(weight_decay=0.1)
    model = master_weights(task.build_model(cfg))
    optimizer, _ = build_optimizer(task, model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)]: g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    spared = {n for n, wd in decay.items() if wd == 0.0}
    # Trainer's own rule (norm layers by type and name, biases by name), applied to our model
    hf_decayed = set(Trainer.get_decay_parameter_names(None, model))
    tokens = {"camera_tokens", "scale_token"}
    assert spared == (set(decay) - hf_decayed) | tokens
    assert {n for n, wd in decay.items() if wd == 0.1} == hf_decayed & set(decay) - tokens
    assert any("layernorm" in n for n in spared) and any(n.endswith(".bias") for n in spared)
    lrs = {names[id(p)]: g["initial_lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lrs["camera_tokens"] == cfg.lr_heads and lrs["student.lm_head.weight"] == cfg.lr_model


@pytest.mark.slow
def test_packing_with_flash_attention_is_a_one_line_usage_error(geovr_data, tmp_path):
    clips, _ = geovr_data  # the paper preset packs (pack_tokens 16384)
    command = [sys.executable, "-m", "geovr", "train", "--preset", "paper", "--clips", str(clips)]
    command += ["--out", str(tmp_path / "run"), "--attn-implementation", "flash_attention_2"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "geovr: error: pack_tokens needs attn_implementation sdpa or eager (each clip's attention "
        "kept apart); flash_attention_2 would attend across packed clips: use sdpa or "
        "pack_tokens 0 (see python -m geovr train --help)"
    ]
    assert not (tmp_path / "run").exists()
