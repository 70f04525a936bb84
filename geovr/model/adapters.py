"""Student families behind one small interface, and `load_student`.

GeoVR asks a video MLLM only a few things, and a `StudentAdapter` answers them for one
transformers family:

- its classes: model, config, processor, video and image processor (`from_pretrained` of a
  hub id or a local directory, real or tiny, goes through them);
- the LLM: number of layers L (`hidden_states[L]` is the last layer), width H, the module of
  its input embeddings (where the camera/scale embeddings are written);
- the vision side: the tower (frozen by default) and the merger modules (trained);
- the video token id, the `<|vision_end|>` id, the spatial merge size (token grid per frame =
  `video_grid_thw[1:] // merge`, one temporal grid = one real frame because frames are fed
  twice), the resize factor (patch * merge);
- `rope_positions`: the family's own 3D M-RoPE position ids of a processed batch
  (geovr.model.tokens inserts the geometry tokens around them).

Where each frame's visual tokens sit is found generically (geovr.model.tokens): the video
tokens in order, F chunks of gh*gw. That holds for Qwen3-VL (one `<t seconds><vision_start>
pads <vision_end>` group per frame) and Qwen2.5-VL (one contiguous run for the whole video).

Adding a family (e.g. a future Qwen-VL or another M-RoPE video model):
1. subclass `StudentAdapter`, set `family`, `model_type` (config.model_type), the classes, and
   `default_patch_size`; override `merger_modules` / `vision_tower` / `rope_positions` if the
   module paths or the position-id call differ (see `Qwen25VLAdapter`);
2. `register_adapter(MyAdapter())`;
3. add its tiny config to `geovr.model.tiny.tiny_config` and the family to the test
   parametrisation in tests/model (insertion positions, gradients, checkpoint equivalence).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoProcessor,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)


class StudentAdapter:
    """Defaults fit transformers' Qwen-VL layout: model.model.{visual, language_model}."""

    family: str = ""
    model_type: str = ""
    model_class: type = nn.Module
    config_class: type = object
    processor_class: type = object
    video_processor_class: type = object
    image_processor_class: type = Qwen2VLImageProcessor
    default_patch_size: int = 16
    video_processor_kwargs: dict[str, Any] = {"cap_pixels_per_frame": False}

    # -- the LLM ---------------------------------------------------------------------------
    def text_config(self, model: nn.Module):
        return model.config.text_config

    def num_layers(self, model: nn.Module) -> int:
        return int(self.text_config(model).num_hidden_layers)

    def hidden_size(self, model: nn.Module) -> int:
        return int(self.text_config(model).hidden_size)

    def input_embeddings(self, model: nn.Module) -> nn.Module:
        return model.get_input_embeddings()

    def decoder_layers(self, model: nn.Module) -> nn.ModuleList:
        """The LLM's decoder layers (the FSDP2 sharding units)."""
        return model.model.language_model.layers

    # -- the vision side -------------------------------------------------------------------
    def vision_tower(self, model: nn.Module) -> nn.Module:
        return model.model.visual

    def merger_modules(self, model: nn.Module) -> list[nn.Module]:
        return [model.model.visual.merger]

    def video_token_id(self, model: nn.Module) -> int:
        return int(model.config.video_token_id)

    def vision_end_token_id(self, model: nn.Module) -> int:
        return int(model.config.vision_end_token_id)

    def merge_size(self, model: nn.Module) -> int:
        return int(model.config.vision_config.spatial_merge_size)

    def resize_factor(self, model: nn.Module) -> int:
        vision = model.config.vision_config
        if int(vision.temporal_patch_size) != 2:
            raise ValueError("GeoVR feeds each frame twice: the temporal patch size must be 2")
        return int(vision.patch_size) * int(vision.spatial_merge_size)

    # -- positions -------------------------------------------------------------------------
    def rope_positions(self, model: nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        """[3, B, S] M-RoPE position ids of a processed batch (pads get 0)."""
        base = model.model
        accepted = inspect.signature(base.get_rope_index).parameters
        kwargs = {
            k: v for k, v in inputs.items() if k in accepted and k != "input_ids" and v is not None
        }
        positions, _ = base.get_rope_index(inputs["input_ids"], **kwargs)
        return positions


class Qwen3VLAdapter(StudentAdapter):
    """Qwen3-VL (the paper's student): patch 16, deepstack mergers, per-frame timestamps."""

    family = "qwen3_vl"
    model_type = "qwen3_vl"
    model_class = Qwen3VLForConditionalGeneration
    config_class = Qwen3VLConfig
    processor_class = Qwen3VLProcessor
    video_processor_class = Qwen3VLVideoProcessor
    default_patch_size = 16

    def merger_modules(self, model: nn.Module) -> list[nn.Module]:
        visual = model.model.visual
        return [visual.merger, *visual.deepstack_merger_list]


class Qwen25VLAdapter(StudentAdapter):
    """Qwen2.5-VL: patch 14, one contiguous video run, temporal positions from
    `second_per_grid_ts` (passed through `rope_positions`)."""

    family = "qwen2_5_vl"
    model_type = "qwen2_5_vl"
    model_class = Qwen2_5_VLForConditionalGeneration
    config_class = Qwen2_5_VLConfig
    processor_class = Qwen2_5_VLProcessor
    video_processor_class = Qwen2VLVideoProcessor
    default_patch_size = 14


_ADAPTERS: dict[str, StudentAdapter] = {}


def register_adapter(adapter: StudentAdapter) -> None:
    _ADAPTERS[adapter.family] = adapter


register_adapter(Qwen3VLAdapter())
register_adapter(Qwen25VLAdapter())


def families() -> list[str]:
    return sorted(_ADAPTERS)


def adapter_by_family(family: str) -> StudentAdapter:
    try:
        return _ADAPTERS[family]
    except KeyError:
        raise ValueError(
            f"unknown student family {family!r}; known: {', '.join(families())}"
        ) from None


def adapter_for(model_or_config: Any) -> StudentAdapter:
    """The adapter of a model or config, by its `model_type`."""
    config = getattr(model_or_config, "config", model_or_config)
    for adapter in _ADAPTERS.values():
        if adapter.model_type == config.model_type:
            return adapter
    raise ValueError(
        f"no GeoVR adapter for model_type {config.model_type!r}; known: {', '.join(families())}"
    )


def load_student(
    path_or_id: str,
    family: str | None = None,
    dtype: torch.dtype | str | None = None,
    with_processor: bool = True,
    **kwargs: Any,
):
    """(model, processor) from a local directory or a hub id, real or tiny, with the family's
    own `from_pretrained` (family inferred from the config when None). kwargs go to the
    model's `from_pretrained` (device_map, attn_implementation, ...)."""
    adapter = (
        adapter_by_family(family) if family else adapter_for(AutoConfig.from_pretrained(path_or_id))
    )
    model = adapter.model_class.from_pretrained(path_or_id, dtype=dtype, **kwargs)
    processor = AutoProcessor.from_pretrained(path_or_id) if with_processor else None
    return model, processor
