"""The GeoVR wrapper: a student MLLM + camera/scale tokens + the four geometry heads.

    geo = GeoVRModel(student, GeoVRConfig(objectives=("lm", "cam", "depth", "scale", "distill")))
    losses = geo(batch)          # or geo(**batch)
    # losses: {"total", "lm", "cam", "depth", "scale", "distill"}
    losses["total"].backward()   # lm + 2.5 cam + 1.0 depth + 1.0 scale + 1.0 distill
                                 # (the weights are configurable)
    preds = geo.predict(batch)   # probes: pose_enc [N,9], depth [N,h,w], metric_scale [B], features

`batch` is the flat dict of tensors of geovr.model.inputs.collate (student inputs + `target_*`
teacher targets; N = frames of the batch, B = clips). With objectives ("lm",) nothing
is inserted, no head exists and the forward is the student's own forward: zero overhead.
`GeoVRModel(student, config, pack_tokens=N)` packs consecutive clips of a batch into sequences
of at most N tokens, attention kept within each clip (geovr.model.tokens,
geovr.model.packed_attention): the same losses as unpacked, without the padding.
Camera tokens are inserted only when "cam" is on, the scale token only when "scale" is on;
"depth" and "distill" read the visual tokens' states and need no extra token.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from geovr.model.adapters import StudentAdapter, adapter_for
from geovr.model.config import GeoVRConfig
from geovr.model.heads.camera import CameraHead, camera_loss
from geovr.model.heads.depth import DepthHead, depth_loss
from geovr.model.heads.distill import DistillHead, distill_loss, resize_grid
from geovr.model.heads.scale import ScaleHead, scale_loss
from geovr.model.inputs import TARGET_PREFIX
from geovr.model.packed_attention import SPANS_KWARG, use_packed_sdpa
from geovr.model.tokens import GeometryLayout, insert_geometry_tokens
from geovr.teachers.base import map_layers

MODEL_INPUTS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")
HOST_SKIPPED = ("pixel_values", TARGET_PREFIX)  # inputs the layout never reads


class GeoVRModel(nn.Module):
    def __init__(
        self,
        student: nn.Module,
        config: GeoVRConfig | None = None,
        adapter: StudentAdapter | None = None,
        pack_tokens: int = 0,
    ):
        super().__init__()
        if pack_tokens < 0:
            raise ValueError("pack_tokens must be >= 0 (0: one clip per sequence, padded)")
        self.student = student
        self.config = config if config is not None else GeoVRConfig()
        self.adapter = adapter if adapter is not None else adapter_for(student)
        self.pack_tokens = pack_tokens
        if pack_tokens:
            use_packed_sdpa(student, self.adapter.text_config(student))
        cfg, widths = self.config, self.config.widths
        hidden = self.adapter.hidden_size(student)
        self.n_layers = self.adapter.num_layers(student)
        self.layers = map_layers(self.n_layers, cfg.teacher_layers, cfg.teacher_depth)
        self.heads = nn.ModuleDict()
        if cfg.on("cam"):
            self.heads["cam"] = CameraHead(hidden, widths.camera_hidden)
            self.camera_tokens = nn.Parameter(
                torch.randn(2, hidden) * cfg.token_init_std
            )  # first frame, later frames
        else:
            self.register_parameter("camera_tokens", None)
        if cfg.on("scale"):
            self.heads["scale"] = ScaleHead(hidden, widths.scale_hidden)
            self.scale_token = nn.Parameter(torch.randn(1, hidden) * cfg.token_init_std)
        else:
            self.register_parameter("scale_token", None)
        if cfg.on("depth"):
            self.heads["depth"] = DepthHead(hidden, widths.depth_channels, widths.depth_features)
        if cfg.on("distill"):
            self.heads["distill"] = DistillHead(
                hidden, cfg.teacher_feature_dim, len(self.layers), widths.distill_hidden
            )
        self.set_trainable()

    # -- parameters ------------------------------------------------------------------------
    def set_trainable(self) -> None:
        """LLM, merger, heads, tokens trainable; the vision tower frozen (config flags)."""
        self.student.requires_grad_(True)
        if self.config.freeze_vision:
            self.adapter.vision_tower(self.student).requires_grad_(False)
            for module in self.adapter.merger_modules(self.student):
                module.requires_grad_(not self.config.freeze_merger)
        head = self.student.get_output_embeddings()
        if (
            not self.config.on("lm")
            and head.weight is not self.adapter.input_embeddings(self.student).weight
        ):
            head.requires_grad_(False)  # no loss reaches an untied LM head without `lm`

    def new_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """Heads and token embeddings (what geovr_heads.safetensors holds)."""
        return ((n, p) for n, p in self.named_parameters() if not n.startswith("student."))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"model": trainable student parameters (paper LR 2e-5), "heads": new heads and
        tokens (paper LR 1e-4)}."""
        return {
            "model": [p for p in self.student.parameters() if p.requires_grad],
            "heads": [p for _, p in self.new_parameters()],
        }

    def geometry_tokens(self) -> list[nn.Parameter]:
        """The learnable camera/scale token embeddings that are on."""
        return [p for p in (self.camera_tokens, self.scale_token) if p is not None]

    def parameter_counts(self) -> dict[str, int]:
        """Parameters of the student, of each head, of the tokens (works on the meta device)."""
        counts = {"student": sum(p.numel() for p in self.student.parameters())}
        counts.update(
            {f"head_{k}": sum(p.numel() for p in h.parameters()) for k, h in self.heads.items()}
        )
        counts["tokens"] = sum(
            p.numel() for n, p in self.new_parameters() if not n.startswith("heads.")
        )
        counts["new_total"] = sum(v for k, v in counts.items() if k != "student")
        return counts

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("student.")}

    def load_head_state_dict(
        self, state: Mapping[str, torch.Tensor], strict: bool = True
    ) -> list[str]:
        """Loads heads/tokens.

        Returns the names this model has but `state` lacks (strict: an error instead).
        """
        own = self.head_state_dict()
        unexpected = sorted(set(state) - set(own))
        missing = sorted(set(own) - set(state))
        if strict and (unexpected or missing):
            raise ValueError(
                f"GeoVR heads do not match: missing {missing}, unexpected {unexpected}"
            )
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
        return missing

    # -- running the student ---------------------------------------------------------------
    def layout(self, batch: Mapping[str, Any], with_labels: bool = True) -> GeometryLayout:
        """Insert the geometry tokens this config needs and locate each frame's visual tokens.

        The bookkeeping runs on host copies of the batch's index tensors (ids, masks, grids):
        it looks up every frame's tokens one by one, which on a GPU would be a device sync per
        lookup; the finished layout is moved to the batch's device in one go."""
        student, adapter = self.student, self.adapter
        camera, scale = self.config.on("cam"), self.config.on("scale")
        host = {
            k: v.cpu()
            for k, v in batch.items()
            if isinstance(v, torch.Tensor) and not k.startswith(HOST_SKIPPED)
        }
        rearranged = camera or scale or self.pack_tokens > 0
        positions = adapter.rope_positions(student, host) if rearranged else None
        layout = insert_geometry_tokens(
            host["input_ids"],
            host["attention_mask"],
            host["mm_token_type_ids"],
            host.get("labels") if with_labels else None,
            host["video_grid_thw"],
            positions,
            video_token_id=adapter.video_token_id(student),
            vision_end_token_id=adapter.vision_end_token_id(student),
            merge=adapter.merge_size(student),
            pad_token_id=getattr(adapter.text_config(student), "pad_token_id", None) or 0,
            camera=camera,
            scale=scale,
            pack_tokens=self.pack_tokens,
        )
        return layout.to(batch["input_ids"].device)

    def _token_table(self, dtype: torch.dtype) -> torch.Tensor:
        hidden = self.adapter.hidden_size(self.student)
        ref = next(self.student.parameters())
        cam = self.camera_tokens if self.camera_tokens is not None else ref.new_zeros(2, hidden)
        scale = self.scale_token if self.scale_token is not None else ref.new_zeros(1, hidden)
        return torch.cat([cam, scale]).to(dtype)

    @contextmanager
    def _geometry_embeddings(self, layout: GeometryLayout):
        """While active, the input embeddings at inserted positions are the learnable tokens."""
        inserted = [i for i in (layout.camera_index, layout.scale_index) if i is not None]
        if not inserted:
            yield
            return
        index = torch.cat(inserted)  # flat (b * S + s) positions of the inserted tokens
        # each position's table row as one-hot weights of a sum, not a lookup table[rows]: the
        # lookup's backward scatter-adds into the table's rows in an order that changes from
        # run to run on several CPU threads (a resumed run was not bit-exact); the sum's
        # backward is a reduction in a fixed order. Exact in forward, whatever the autocast.
        weights = nn.functional.one_hot(layout.kinds.flatten()[index] - 1, num_classes=3)

        def write(module, args, output):
            table = self._token_table(output.dtype)
            tokens = (weights.to(output.dtype).unsqueeze(-1) * table).sum(-2)
            return output.flatten(0, 1).index_put((index,), tokens).view_as(output)

        handle = self.adapter.input_embeddings(self.student).register_forward_hook(write)
        try:
            yield
        finally:
            handle.remove()

    def run_student(
        self,
        batch: Mapping[str, Any],
        layout: GeometryLayout,
        with_logits: bool,
        num_items: torch.Tensor | None = None,
        hidden_layers: list[int] | None = None,
    ):
        """The student's forward on the layout; hidden states are kept at the heads' layers
        (or at `hidden_layers`, e.g. for probing a model without heads)."""
        kwargs: dict[str, Any] = {k: batch[k] for k in MODEL_INPUTS if batch.get(k) is not None}
        kwargs.update(
            input_ids=layout.input_ids,
            attention_mask=layout.attention_mask,
            mm_token_type_ids=layout.mm_token_type_ids,
            use_cache=False,
        )
        if layout.position_ids is not None:
            kwargs["position_ids"] = layout.position_ids
        if layout.spans is not None:  # read by the packed sdpa, ignored by other attention
            kwargs[SPANS_KWARG] = layout.spans
        if with_logits and layout.labels is not None:
            kwargs["labels"] = layout.labels
            if num_items is not None:  # a sum over tokens / the step's count, not a batch mean
                kwargs["num_items_in_batch"] = num_items
        elif not with_logits:
            kwargs["logits_to_keep"] = 1
        if hidden_layers is not None:
            kwargs["output_hidden_states"] = sorted(hidden_layers)
        elif self.config.geometry:
            kwargs["output_hidden_states"] = sorted({*self.layers, self.n_layers})
        with self._geometry_embeddings(layout):
            return self.student(**kwargs)

    # -- heads -----------------------------------------------------------------------------
    def _cast(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return x.to(next(self.heads[name].parameters()).dtype)

    def _frame_grids(self, hidden: torch.Tensor, layout: GeometryLayout) -> torch.Tensor:
        shapes = {g[1:] for g in layout.grids}
        if len(shapes) > 1:
            raise ValueError(
                f"frames of different token grids {sorted(shapes)} in one batch; "
                "prepare every clip with the same frame size / max_side"
            )
        gh, gw = shapes.pop()
        return hidden.flatten(0, 1)[layout.frame_index].view(-1, gh, gw, hidden.shape[-1])

    def run_heads(
        self, hidden_states, layout: GeometryLayout, depth_size: tuple[int, int]
    ) -> dict[str, Any]:
        """Predictions of every head that is on, from the student's hidden states."""
        preds: dict[str, Any] = {}
        last = hidden_states[self.n_layers].flatten(0, 1)
        if "cam" in self.heads:
            preds["pose_enc"] = self.heads["cam"](self._cast("cam", last[layout.camera_index]))
        if "scale" in self.heads:
            preds["metric_scale"] = self.heads["scale"](
                self._cast("scale", last[layout.scale_index])
            )
        if "depth" in self.heads or "distill" in self.heads:
            grids = [self._frame_grids(hidden_states[layer], layout) for layer in self.layers]
            if "depth" in self.heads:
                preds["depth"] = self.heads["depth"](
                    [self._cast("depth", g) for g in grids], depth_size
                )
            if "distill" in self.heads:
                preds["features"] = self.heads["distill"]([self._cast("distill", g) for g in grids])
        return preds

    def _pixel_size(self, layout: GeometryLayout) -> tuple[int, int]:
        factor = self.adapter.resize_factor(self.student)
        _, gh, gw = layout.grids[0]
        return gh * factor, gw * factor

    # -- the two entry points --------------------------------------------------------------
    def forward(
        self, batch: Mapping[str, Any] | None = None, **tensors: Any
    ) -> dict[str, torch.Tensor]:
        """`geo(batch)` or `geo(**batch)`: every loss term that is on (unweighted) and
        "total" = lm + sum(weight * term)."""
        batch = {**(batch or {}), **tensors}
        # the trainer's normaliser for a mean over the whole step's tokens (see train/loop.py)
        num_items = batch.pop("num_items_in_batch", None)
        cfg = self.config
        if cfg.geometry and "target_pose_enc" not in batch:
            raise ValueError(
                f"objectives {cfg.geometry} need teacher targets (target_*) in the batch"
            )
        layout = self.layout(batch, with_labels=cfg.on("lm"))
        out = self.run_student(batch, layout, with_logits=cfg.on("lm"), num_items=num_items)
        losses: dict[str, torch.Tensor] = {}
        if cfg.on("lm"):
            losses["lm"] = out.loss
        if cfg.geometry:
            preds = self.run_heads(
                out.hidden_states, layout, tuple(batch["target_depth"].shape[-2:])
            )
            if "pose_enc" in preds:
                losses["cam"] = camera_loss(
                    preds["pose_enc"], batch["target_pose_enc"], batch.get("target_pose_valid")
                )
            if "depth" in preds:
                losses["depth"] = depth_loss(preds["depth"], batch["target_depth"])
            if "metric_scale" in preds:
                losses["scale"] = scale_loss(
                    preds["metric_scale"],
                    batch["target_metric_scale"],
                    batch.get("target_scale_valid"),
                )
            if "features" in preds:
                losses["distill"] = distill_loss(preds["features"], self._teacher_features(batch))
        total = losses.get("lm", 0.0)
        for name in cfg.geometry:
            total = total + cfg.loss_weights[name] * losses[name]
        losses["total"] = total
        return losses

    def _teacher_features(self, batch: Mapping[str, Any]) -> list[torch.Tensor]:
        features = [batch[k] for k in sorted(k for k in batch if k.startswith("target_feat_"))]
        if len(features) != len(self.layers):
            raise ValueError(
                f"teacher targets have {len(features)} feature layers, "
                f"GeoVR distils {len(self.layers)}"
            )
        if features[0].shape[-1] != self.config.teacher_feature_dim:
            raise ValueError(
                f"teacher features have {features[0].shape[-1]} channels, the distill head outputs "
                f"{self.config.teacher_feature_dim} (GeoVRConfig.teacher_feature_dim)"
            )
        return features

    @torch.no_grad()
    def predict(
        self,
        batch: Mapping[str, Any],
        depth_size: tuple[int, int] | None = None,
        layer_names: list[str] | None = None,
    ) -> dict[str, Any]:
        """Probe outputs of the heads that are on: pose_enc [N,9], depth [N,h,w] (the teacher's
        depth size when the batch has targets, else the model's frame size), metric_scale [B],
        features {layer name: [N,hf,wf,C]} (on the teacher grid when the batch has targets),
        frames: frames per clip. Targets in the batch are used for sizes only."""
        layout = self.layout(batch, with_labels=False)
        out = self.run_student(batch, layout, with_logits=False)
        if depth_size is None:
            depth_size = (
                tuple(batch["target_depth"].shape[-2:])
                if "target_depth" in batch
                else self._pixel_size(layout)
            )
        preds = self.run_heads(out.hidden_states, layout, tuple(depth_size))
        if "features" in preds:
            names = layer_names or [str(x) for x in self.config.teacher_layers]
            teacher = [k for k in sorted(batch) if k.startswith("target_feat_")]
            sizes = (
                [tuple(batch[k].shape[1:3]) for k in teacher] if teacher else [None] * len(names)
            )
            preds["features"] = {
                n: resize_grid(f, g) if g else f
                for n, f, g in zip(names, preds["features"], sizes, strict=True)
            }
        preds["frames"] = [g[0] for g in layout.grids]
        return preds

    @torch.no_grad()
    def visual_states(self, batch: Mapping[str, Any], layers: list[int]) -> list[torch.Tensor]:
        """Each frame's visual-token hidden states [N, gh, gw, C] at hidden-state index each of
        `layers` (0: the language model's input, the vision tower's merged tokens), with the
        inputs the student answers from (no geometry token inserted)."""
        layout = self.layout(batch, with_labels=False)
        if bool(layout.inserted.any()):
            raise ValueError("visual_states reads the plain student: load it with objectives lm")
        out = self.run_student(batch, layout, with_logits=False, hidden_layers=layers)
        return [self._frame_grids(out.hidden_states[layer], layout) for layer in layers]

    def generate(self, **inputs: Any):
        """The plain student's generate: no geometry token, no head (zero overhead)."""
        return self.student.generate(**inputs)
