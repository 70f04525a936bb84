"""Clip set + teacher targets -> student examples: what the train and evaluate stages read.

    ds = ClipQADataset("runs/clips", processor, targets="runs/targets", splits=("train",))
    example = ds[0]                     # make_example(...) of one (clip, question) pair
    batch = collate([ds[0], ds[1]], processor.tokenizer.pad_token_id)

One item is one QA pair of a clip in the chosen splits (clips without a question are used
once, with an empty answer, so geometry-only data still trains the heads). Shards and targets
are opened lazily in each process, so the dataset can be handed to DataLoader workers; paths
may be local or fsspec URLs (s3://...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from geovr.artifacts import read_jsonl, read_meta
from geovr.data.shards import ShardReader
from geovr.errors import ArtifactError
from geovr.model.clip_inputs import model_frame_size, resize_factor
from geovr.model.inputs import make_example
from geovr.model.prompt import vsi_question_text
from geovr.teachers.store import TargetStore


@dataclass(frozen=True)
class Item:
    clip: dict[str, Any]
    qa: dict[str, Any]


def clip_of(qa: dict[str, Any]) -> str:
    """VSI-Bench rows name the clip `scene_name`; ours may say `clip_id`."""
    return str(qa.get("clip_id") or qa.get("scene_name"))


def load_items(
    clips: str,
    splits: Sequence[str],
    question_types: Sequence[str] | None = None,
    **storage_options: Any,
) -> list[Item]:
    """(clip, qa) pairs of the clip set in `splits`, in manifest then QA order."""
    read_meta(clips, "clipset", **storage_options)
    rows = [
        r for r in read_jsonl(f"{clips}/manifest.jsonl", **storage_options) if r["split"] in splits
    ]
    by_clip: dict[str, list[dict[str, Any]]] = {}
    for qa in read_jsonl(f"{clips}/qa.jsonl", **storage_options):
        if question_types is None or qa["question_type"] in question_types:
            by_clip.setdefault(clip_of(qa), []).append(qa)
    items = []
    for row in rows:
        questions = by_clip.get(row["clip_id"]) or [
            {
                "id": f"{row['clip_id']}-none",
                "question": "Describe the room.",
                "question_type": "none",
                "options": None,
                "ground_truth": None,
            }
        ]
        items.extend(Item(row, qa) for qa in questions)
    return items


class ClipQADataset(torch.utils.data.Dataset):
    """Map-style dataset of student examples (unpadded tensors, `target_*` when `targets`)."""

    def __init__(
        self,
        clips: str,
        processor: Any,
        targets: str | None = None,
        splits: Sequence[str] = ("train",),
        *,
        max_side: int | None = None,
        question_types: Sequence[str] | None = None,
        with_answer: bool = True,
        **storage_options: Any,
    ):
        self.clips, self.targets_root = str(clips).rstrip("/"), targets and str(targets).rstrip("/")
        self.processor, self.max_side, self.with_answer = processor, max_side, with_answer
        self.storage_options = storage_options
        self.items = load_items(self.clips, tuple(splits), question_types, **storage_options)
        if not self.items:
            raise ArtifactError(f"{self.clips}: no clip in splits {list(splits)}")
        self._reader: ShardReader | None = None
        self._store: TargetStore | None = None
        if self.targets_root:
            missing = sorted({i.clip["clip_id"] for i in self.items} - set(self.store.clip_ids()))
            if missing:
                raise ArtifactError(
                    f"{self.targets_root}: no teacher targets for {len(missing)} clip(s) "
                    f"({', '.join(missing[:5])}); quarantined in distill or not distilled"
                )

    @property
    def reader(self) -> ShardReader:
        if self._reader is None:
            self._reader = ShardReader(self.clips, **self.storage_options)
        return self._reader

    @property
    def store(self) -> TargetStore:
        if self._store is None:
            self._store = TargetStore(self.targets_root, **self.storage_options)
        return self._store

    def __getstate__(self) -> dict[str, Any]:
        # open readers hold file handles; each worker process reopens its own
        return {**self.__dict__, "_reader": None, "_store": None}

    def __len__(self) -> int:
        return len(self.items)

    def token_lengths(self) -> list[int]:
        """Each item's sequence length for length grouping, from the manifest alone (no decode):
        its video tokens (frames x the merged patch grid of the resized frame) plus the tokens
        of its question and answer. The chat template's few fixed tokens are left out: they are
        the same for every item."""
        factor, tokenizer = resize_factor(self.processor), self.processor.tokenizer
        lengths = []
        for item in self.items:
            height, width = model_frame_size(
                item.clip["height"], item.clip["width"], factor, self.max_side
            )
            video = len(item.clip["frame_indices"]) * (height // factor) * (width // factor)
            text = vsi_question_text(str(item.qa["question"]), item.qa.get("options"))
            answer = "" if item.qa.get("ground_truth") is None else str(item.qa["ground_truth"])
            lengths.append(video + len(tokenizer(text + answer)["input_ids"]))
        return lengths

    def frames(self, clip_id: str) -> np.ndarray:
        arrays, _ = self.reader.get(clip_id)
        return arrays["frames"]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.items[index]
        clip_id = item.clip["clip_id"]
        targets = self.store.get(clip_id, sha256=item.clip["sha256"]) if self.targets_root else None
        return make_example(
            self.processor,
            self.frames(clip_id),
            item.qa,
            targets,
            timestamps=item.clip.get("timestamps"),
            max_side=self.max_side,
            layers=self.store.layers if targets is not None else None,
            with_answer=self.with_answer,
        )
