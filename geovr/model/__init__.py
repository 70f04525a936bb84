"""The GeoVR student: family adapters, geometry tokens, the four heads and their losses, the
wrapper, checkpoints, and tiny offline students.

    from geovr.model import GeoVRConfig, GeoVRModel, build_tiny_student, make_example, collate
    student, processor = build_tiny_student("qwen3_vl")            # or load_student(path_or_hub_id)
    geo = GeoVRModel(student, GeoVRConfig(widths=HeadWidths.tiny(), teacher_feature_dim=C))
    example = make_example(processor, frames, qa, targets)
    batch = collate([example], processor.tokenizer.pad_token_id)
    losses = geo(batch); losses["total"].backward()
    save_student(geo, "runs/ckpt", processor); geo, processor = load_geovr("runs/ckpt")

Modules: config (GeoVRConfig, objectives, head widths), adapters (families, load_student), tokens
(camera/scale token insertion, M-RoPE positions), inputs (frames + QA -> batch, generation),
heads/{camera,depth,scale,distill} (one head + loss each), geovr (the wrapper), checkpoint
(save/load), tiny (offline tokenizer, processor and tiny configs).
"""

import importlib

# exported name -> submodule; loaded on first use (PEP 562), so that `geovr.model.config` and
# the training launcher do not import torch and transformers
_EXPORTS = {
    "adapter_by_family": "adapters",
    "adapter_for": "adapters",
    "families": "adapters",
    "load_student": "adapters",
    "load_geovr": "checkpoint",
    "save_student": "checkpoint",
    "OBJECTIVES": "config",
    "GeoVRConfig": "config",
    "HeadWidths": "config",
    "parse_objectives": "config",
    "GeoVRModel": "geovr",
    "collate": "inputs",
    "generate_answers": "inputs",
    "generation_inputs": "inputs",
    "make_example": "inputs",
    "to_device": "inputs",
    "build_processor": "tiny",
    "build_tiny_student": "tiny",
    "build_tokenizer": "tiny",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
