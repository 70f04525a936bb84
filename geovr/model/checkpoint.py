"""Saving and loading a GeoVR student (docs/contracts.md section 4).

    save_student(geo, "runs/ckpt", processor)     # geo: GeoVRModel (or a plain student)
    geo, processor = load_geovr("runs/ckpt")      # heads restored, ready to continue training

The directory is a plain Hugging Face checkpoint of the student (safetensors weights, config,
generation config, processor + chat template): `from_pretrained` alone loads it, without
geovr and without extra tokens (the camera/scale embeddings are not in the vocabulary). Beside
it: `geovr_heads.safetensors` (heads + camera/scale token embeddings) and `geovr_config.json`
(schema, family, GeoVRConfig, mapped layers, and the caller's training config). The directory
is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from geovr.artifacts import META_FILE
from geovr.model.adapters import adapter_for, load_student
from geovr.model.config import GeoVRConfig
from geovr.model.geovr import GeoVRModel

HEADS_FILE = "geovr_heads.safetensors"
CONFIG_FILE = "geovr_config.json"
SCHEMA = "geovr.student/1"


def save_student(
    model: GeoVRModel | torch.nn.Module,
    out_dir: str | Path,
    processor: Any = None,
    training_config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint directory (replacing an existing one only once complete); `meta`
    is the artifact record (geovr.artifacts.make_meta) written as meta.json."""
    out_dir = Path(out_dir)
    geo = model if isinstance(model, GeoVRModel) else None
    student = geo.student if geo is not None else model
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        student.save_pretrained(tmp)
        if processor is not None:
            _without_resampling(processor)
            processor.save_pretrained(tmp)
        heads = geo.head_state_dict() if geo is not None else {}
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in heads.items()},
            str(tmp / HEADS_FILE),
            metadata={"format": "pt", "schema": SCHEMA},
        )
        geovr_meta = {
            "schema": SCHEMA,
            "family": adapter_for(student).family,
            "geovr": (geo.config if geo is not None else GeoVRConfig(objectives=("lm",))).to_dict(),
            "student_layers": geo.layers if geo is not None else None,
            "training": training_config or {},
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(geovr_meta, indent=2, sort_keys=True) + "\n")
        if meta is not None:
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _without_resampling(processor: Any) -> None:
    """Frames reach the student already sampled by the recorded rule (clip_inputs.py): a saved
    `do_sample_frames: true` would make a plain transformers user resample them (to 2 fps)."""
    video = getattr(processor, "video_processor", None)
    if video is not None:
        video.do_sample_frames = False


def read_geovr_config(path: str | Path) -> dict[str, Any] | None:
    file = Path(path) / CONFIG_FILE
    if not file.exists():
        return None
    meta = json.loads(file.read_text())
    if meta.get("schema") != SCHEMA:
        raise ValueError(f"{file}: unknown schema {meta.get('schema')!r}, expected {SCHEMA}")
    return meta


def load_geovr(
    path: str | Path,
    config: GeoVRConfig | None = None,
    family: str | None = None,
    dtype: torch.dtype | None = None,
    **kwargs: Any,
) -> tuple[GeoVRModel, Any]:
    """(GeoVRModel, processor) from a GeoVR checkpoint, a plain student directory or a hub id.

    config None: the saved GeoVR config (all objectives of the paper for a plain student).
    Heads/tokens saved in the checkpoint are restored; with a different `config` (e.g. a new
    objective switched on), heads that exist in both are restored and the others start fresh.
    """
    meta = read_geovr_config(path) if Path(path).is_dir() else None
    student, processor = load_student(
        str(path), family or (meta or {}).get("family"), dtype=dtype, **kwargs
    )
    saved = GeoVRConfig.from_dict(meta["geovr"]) if meta else None
    geo = GeoVRModel(student, config or saved or GeoVRConfig())
    heads = Path(path) / HEADS_FILE
    if meta and heads.exists():
        geo.load_head_state_dict(load_file(str(heads)), strict=config is None)
    if dtype is not None:
        geo.heads.to(dtype)
    return geo, processor
