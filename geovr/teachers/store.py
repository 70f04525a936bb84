"""Reading teacher targets (what the train and evaluate stages call).

store = TargetStore("runs/targets")            # refuses anything but schema geovr.targets/1
store.layers                                   # ("4", "11", "17", "23") for oracle/VGGT
t = store.get("scene_0001", sha256=manifest_row["sha256"])
t.pose_enc      [T,9]  float32   absT_quaR_FoV, first-camera frame, normalised scale
t.depth         [T,H,W] float32  normalised scale, 0 = no target
t.depth_conf    [T,H,W] float16 or None
t.metric_scale  float            metric depth = depth * metric_scale
t.features      {layer: [T,h,w,C] float16}   patch grid, 2x2 pooled
t.pose_valid, t.scale_valid      mask the camera / scale losses when False
"""

from __future__ import annotations

from typing import Any

from geovr.artifacts import read_jsonl, read_meta
from geovr.data.shards import ShardReader
from geovr.errors import ArtifactError
from geovr.teachers.base import Targets


class TargetStore:
    """Random access to one targets directory (local or fsspec URL)."""

    def __init__(self, root: str, **storage_options: Any):
        self.root = str(root).rstrip("/")
        self.meta = read_meta(self.root, "targets", **storage_options)
        self.reader = ShardReader(self.root, **storage_options)
        self.storage_options = storage_options

    @property
    def teacher(self) -> str:
        return self.meta["teacher"]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.meta["layers"])

    def clip_ids(self) -> list[str]:
        return self.reader.keys()

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self.reader

    def quarantine(self) -> list[dict[str, Any]]:
        return read_jsonl(f"{self.root}/quarantine.jsonl", **self.storage_options)

    def get(self, clip_id: str, sha256: str | None = None) -> Targets:
        """The targets of one clip; with `sha256`, refuse targets computed from another video."""
        entry = self.reader.index.get(clip_id)
        if entry is None:
            raise KeyError(
                f"no targets for clip {clip_id!r} in {self.root} (quarantined or not distilled)"
            )
        if sha256 is not None and entry.get("clip_sha256") != sha256:
            raise ArtifactError(
                f"{self.root}: targets of {clip_id!r} are for another video; rerun distill"
            )
        arrays, _ = self.reader.get(clip_id)
        return Targets.from_record(arrays)
