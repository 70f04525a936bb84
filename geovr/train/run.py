"""`geovr train` as a library call: check the inputs, write the task options, start torchrun.

    from geovr.train.run import run_training
    summary = run_training("runs/clips", "runs/targets", "runs/train", nproc=2, steps=20)
    summary["checkpoint"]   # runs/train/checkpoint: plain HF student + geovr_heads.safetensors

Layout of `out`: geovr.train.outputs (`task.json`, `base_student/`, `checkpoints/`,
`checkpoint/`, `summary.json`), plus `metrics_buffer.jsonl` when MLflow was unreachable.
This module imports neither torch nor transformers (the workers do): a training step's own
process starts in a fraction of a second.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from geovr.artifacts import atomic_write_text, config_hash, make_meta, read_meta
from geovr.config.presets import run_record
from geovr.config.train import TrainConfig
from geovr.data.leakage import training_clips
from geovr.errors import GeoVRError
from geovr.model.config import parse_objectives, teacher_feature_dim
from geovr.stage_output import writes_output
from geovr.teachers.base import VGGT_FEATURE_DIM
from geovr.train.launch import launch, resolve_launcher
from geovr.train.lifetime import EXIT_DIVERGED, EXIT_FAILED, Stopped
from geovr.train.outputs import (
    BASE_STUDENT_DIR,
    CHECKPOINT_DIR,
    CHECKPOINTS_DIR,
    SUMMARY_NAME,
    latest_checkpoint,
)
from geovr.train.resume import check_resume
from geovr.train.task_config import GeoVRTaskConfig

TASK = "geovr.train.geovr_task:GeoVRTask"
TINY_PREFIX = "tiny"
TINY_FAMILIES = ("qwen3_vl", "qwen2_5_vl")  # geovr.model.tiny builds these


def student_options(student: str, out: Path, seed: int) -> dict[str, Any]:
    """("tiny[:FAMILY[:HIDDENxLAYERS]]" | path | hub id) -> the task options naming the student,
    e.g. "tiny", "tiny:qwen2_5_vl", "tiny:qwen3_vl:256x6". The tiny student is built by the
    workers (rank 0, into out/base_student): this process never imports torch."""
    name, _, rest = student.partition(":")
    if name != TINY_PREFIX:
        check_pretrained(student)
        return {"student": student, "head_widths": "paper"}
    family, _, size = rest.partition(":")
    if family and family not in TINY_FAMILIES:
        raise GeoVRError(f"--student {student}: tiny families are {', '.join(TINY_FAMILIES)}")
    options = {
        "student": str(out / BASE_STUDENT_DIR),
        "head_widths": "tiny",
        "tiny_family": family or TINY_FAMILIES[0],
        "tiny_seed": seed,
    }
    if size:
        hidden, _, layers = size.partition("x")
        if not (
            hidden.isdigit()
            and layers.isdigit()
            and int(hidden) % 32 == 0
            and int(hidden) > 0
            and int(layers) > 0
        ):
            raise GeoVRError(
                f"--student {student}: the size is HIDDENxLAYERS, hidden a multiple of 32 (256x6)"
            )
        options.update(tiny_hidden=int(hidden), tiny_layers=int(layers))
    return options


def widths_option(head_widths: str | None) -> dict[str, str]:
    if head_widths not in (None, "paper", "tiny"):
        raise GeoVRError(f"head widths {head_widths!r}: choose paper or tiny")
    return {"head_widths": head_widths} if head_widths else {}


def check_pretrained(student: str) -> None:
    """A student named by path must be a model directory; any other name must be a valid hub
    id (huggingface_hub's own rule), so that a typo'd path fails here, not in every worker."""
    path = Path(student).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise GeoVRError(f"--student {student}: the directory has no config.json")
        return
    try:
        validate_repo_id(student)
    except HFValidationError:
        raise GeoVRError(f"--student {student}: no such directory, and not a hub id") from None


def task_options(
    clips: str, targets: str | None, objectives: tuple[str, ...], **extra: Any
) -> dict[str, Any]:
    geometry = [o for o in objectives if o != "lm"]
    if geometry and not targets:
        raise GeoVRError(f"objectives {','.join(geometry)} need teacher targets: pass --targets")
    read_meta(clips, "clipset")
    dim = teacher_feature_dim(targets) if targets else VGGT_FEATURE_DIM
    return GeoVRTaskConfig(
        clips=clips, targets=targets, objectives=objectives, teacher_feature_dim=dim, **extra
    ).to_dict()


def preprocessing_record(clips: str, max_side: int | None) -> dict[str, Any]:
    """How a video becomes this model's frames (geovr.model.clip_inputs.Preprocessing): the
    clip set's sampling rule and stored size, and training's own cap on the side."""
    ingest = read_meta(clips, "clipset")["config"]
    if "frames" in ingest:
        sampling = {"rule": "count", "frames": ingest["frames"]}
    else:
        sampling = {"rule": "fps", **{k: ingest[k] for k in ("fps", "min_frames", "max_frames")}}
    return {"sampling": sampling, "store_side": ingest["max_side"], "max_side": max_side}


def checkpoint_meta(
    options: dict[str, Any], cfg: TrainConfig, student: str, data_version: dict[str, str] | None
) -> dict[str, Any]:
    """meta.json of the final checkpoint: config hash, input hashes, teacher, student base and
    the data version the registry tags the model with."""
    clips = read_meta(options["clips"], "clipset")
    inputs = {"clips": config_hash(clips)}
    teacher: Any = ""
    if options["targets"]:
        targets = read_meta(options["targets"], "targets")
        inputs["targets"] = config_hash(targets)
        teacher = {
            "name": targets["teacher"],
            "hash": targets.get("teacher_hash", ""),
            "clips_without_scale": targets.get("clips_without_scale", 0),
        }
    config = {
        "task": dict(options),
        "train": {k: v for k, v in cfg.to_dict().items() if k != "tracking_uri"},
    }
    return make_meta(
        "checkpoint",
        "train",
        config,
        inputs,
        teacher=teacher,
        student_base=student,
        data_version=dict(data_version or {}),
        # what evaluation checks its clips against (train/eval leakage)
        training_clips=training_clips(options["clips"], options["splits"]),
        # what the served model samples a video by
        preprocessing=preprocessing_record(options["clips"], options.get("max_side")),
    )


def check_attention(implementation: str) -> None:
    """flash_attention_2 needs the flash-attn package on the workers (the same image as here)."""
    if implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise GeoVRError(
            "--attn-implementation flash_attention_2 needs the flash-attn package, which is not "
            "installed in this environment; use sdpa (the default) or install flash-attn"
        )


def worker_args(out: Path, cfg: TrainConfig) -> list[str]:
    args = ["--task", TASK, "--task-config", str(out / "task.json"), "--out", str(out)]
    for key, value in cfg.to_dict().items():
        if value is not None and value != "":
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def run_trainjob(
    out: Path, cfg: TrainConfig, num_nodes: int, nproc: int, gpus: int, timeout: float | None
) -> dict[str, Any]:
    """The same workers on `num_nodes` nodes through a Kubeflow Trainer TrainJob; `out` must be
    on the shared volume every node mounts (ClusterSettings)."""
    from geovr.train.cluster import ClusterSettings
    from geovr.train.trainjob import TrainJobLauncher, unique_name

    settings = ClusterSettings.from_env(os.environ)
    if not out.resolve().is_relative_to(settings.mount_path):
        raise GeoVRError(
            f"{out} is not on the shared training volume {settings.mount_path} (GEOVR_TRAIN_MOUNT)"
        )
    command = ["torchrun", "-m", "geovr.train.worker", *worker_args(out.resolve(), cfg)]
    labels = {"geovr.io/kfp-run-id": cfg.kfp_run_id} if cfg.kfp_run_id else {}
    spec = settings.spec(
        unique_name("geovr-train"),
        command,
        num_nodes,
        nproc,
        gpus,
        int(timeout) if timeout else None,
        labels,
    )
    TrainJobLauncher().run(spec, timeout=timeout)
    return json.loads((out / SUMMARY_NAME).read_text())


def job_failure(out: Path, code: int, what: str = "") -> GeoVRError:
    """The one-line error of a job that ended early, exiting with what happened (lifetime.py)."""
    if code < 0:  # the agent itself was killed (Popen reports -N)
        code, what = 128 - code, f"the torchrun agent was killed by {signal.Signals(-code).name}"
    if code == EXIT_DIVERGED:
        what = "training stopped: the loss became NaN/inf (the workers' error is above)"
    what = what or f"training failed (worker exit {code}; the workers' error is above)"
    last = latest_checkpoint(out / CHECKPOINTS_DIR)
    if code == EXIT_DIVERGED:  # resuming would diverge again
        hint = "; lower --lr-model/--lr-heads or the loss weights"
    elif last:
        hint = f"; rerun with --resume to continue from {last}"
    else:
        hint = "; no checkpoint was written"
    error = GeoVRError(what + hint)
    error.exit_code = code if code in (EXIT_DIVERGED,) or code > 128 else EXIT_FAILED
    return error


@writes_output("train", inputs=("clips", "targets"))
def run_training(
    clips: str,
    targets: str | None,
    out: str | Path,
    *,
    nproc: int = 1,
    resume: bool = False,
    data_version: dict[str, str] | None = None,
    timeout: float | None = None,
    node_gpus: int | None = None,
    head_widths: str | None = None,
    preset: str = "",
    **train_config: Any,
) -> dict[str, Any]:
    """Train under torchrun with `nproc` local ranks; return the summary (last line of the CLI).
    `train_config`: fields of geovr.config.train.TrainConfig (the rest keep its defaults); the
    checkpoint's meta.json records the resolved config and the `preset` it came from.
    A TrainJob's nodes request `node_gpus` GPUs each (None: one per rank; 0: CPU nodes).
    `head_widths` ("paper" / "tiny"): the heads' preset when not the student's default (a
    student trained from the tiny one and passed by path keeps tiny heads)."""
    out = Path(out)
    try:
        cfg = TrainConfig(**train_config)
    except ValueError as e:
        raise GeoVRError(f"training config: {e}") from None
    check_attention(cfg.attn_implementation)
    on_cluster = resolve_launcher(cfg.launcher, cfg.num_nodes) == "trainjob"
    if latest_checkpoint(out / CHECKPOINTS_DIR) is not None and not resume:
        raise GeoVRError(
            f"{out} already holds training checkpoints: pass --resume to continue, or a new --out"
        )
    try:
        options = task_options(
            clips,
            targets,
            parse_objectives(cfg.objectives),
            **{**student_options(cfg.student, out, cfg.seed), **widths_option(head_widths)},
            loss_weights=cfg.loss_weight_dict(),
            max_side=cfg.max_side,
            splits=tuple(cfg.splits.split(",")),
            freeze_vision=cfg.freeze_vision,
        )
    except ValueError as e:
        raise GeoVRError(str(e)) from e
    options["checkpoint_meta"] = checkpoint_meta(options, cfg, cfg.student, data_version)
    options["checkpoint_meta"]["ranks"] = nproc * cfg.num_nodes
    record = run_record(preset, "train", cfg)
    del record["train"]["tracking_uri"]  # where metrics went, as in config.train
    options["checkpoint_meta"]["run_config"] = record
    if resume and latest_checkpoint(out / CHECKPOINTS_DIR) is not None:
        check_resume(out, options)
    out.mkdir(parents=True, exist_ok=True)  # only once every input has been accepted
    atomic_write_text(out / "task.json", json.dumps(options, indent=2, sort_keys=True))
    start = time.perf_counter()
    try:
        if on_cluster:
            gpus = nproc if node_gpus is None else node_gpus
            summary = run_trainjob(out, cfg, cfg.num_nodes, nproc, gpus, timeout)
        else:
            summary = launch(nproc, worker_args(out, cfg), timeout=timeout)
    except subprocess.CalledProcessError as e:
        raise job_failure(out, e.returncode) from e
    except Stopped as e:
        raise job_failure(out, 128 + e.signum, f"stopped by {e}: the workers have exited") from e
    last = summary["losses"][-1] if summary["losses"] else {}
    return {
        "checkpoint": str(out / CHECKPOINT_DIR),
        "steps": summary["final_step"],
        "resumed_from": summary["start_step"],
        "world_size": summary["world_size"],
        "final_losses": last,
        "objectives": list(options["objectives"]),
        "tracking_online": summary["tracking_online"],
        "mlflow_run_id": summary["run_id"],
        "seconds": round(time.perf_counter() - start, 2),
    }
