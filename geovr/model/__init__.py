"""The GeoVR student: family adapters, geometry tokens, the four heads and their losses, the
wrapper, checkpoints, and tiny offline students.

    from geovr.model import GeoVRConfig, GeoVRModel, build_tiny_student, make_example, collate
    student, processor = build_tiny_student("qwen3_vl")            # or load_student(path_or_hub_id)
    geo = GeoVRModel(student, GeoVRConfig(widths=HeadWidths.tiny(), teacher_feature_dim=C))
    batch = collate([make_example(processor, frames, qa, targets)], processor.tokenizer.pad_token_id)
    losses = geo(batch); losses["total"].backward()
    save_student(geo, "runs/ckpt", processor); geo, processor = load_geovr("runs/ckpt")

Modules: config (GeoVRConfig, layer mapping), adapters (families, load_student), tokens
(camera/scale token insertion, M-RoPE positions), inputs (frames + QA -> batch, generation),
heads/{camera,depth,scale,distill} (one head + loss each), geovr (the wrapper), checkpoint
(save/load), tiny (offline tokenizer, processor and tiny configs).
"""

from geovr.model.adapters import adapter_by_family, adapter_for, families, load_student
from geovr.model.checkpoint import load_geovr, save_student
from geovr.model.config import OBJECTIVES, GeoVRConfig, HeadWidths, map_layers, parse_objectives
from geovr.model.geovr import GeoVRModel
from geovr.model.inputs import collate, generate_answers, generation_inputs, make_example, to_device
from geovr.model.tiny import build_processor, build_tiny_student, build_tokenizer

__all__ = [
    "OBJECTIVES", "GeoVRConfig", "GeoVRModel", "HeadWidths", "adapter_by_family", "adapter_for",
    "build_processor", "build_tiny_student", "build_tokenizer", "collate", "families",
    "generate_answers", "generation_inputs", "load_geovr", "load_student", "make_example",
    "map_layers", "parse_objectives", "save_student", "to_device",
]
