"""The MLflow pyfunc that serves a registered GeoVR student ("models from code").

MLflow copies this file into every logged model and runs it at load time, so it imports
only MLflow, transformers, torch and numpy, never `geovr`: a registered model loads in any
process with those packages. MLflow also runs it when the model is logged, so torch and
transformers are imported only when a model is loaded: registering stays a light process.
The model's one artifact, `checkpoint`, is the Hugging Face directory exactly as training
wrote it (plus the GeoVR heads and meta, which load ignores).

    model = mlflow.pyfunc.load_model("models:/geovr-student@champion")
    model.predict([{"question": "How many chairs are in the room?"}])
    model.predict([{"question": "...", "frames": frames, "timestamps": seconds}])  # [F,H,W,3] uint8

Each input item: `question` (str), optional `frames` (already sampled video frames, given
to the processor as one video) with optional `timestamps` (seconds of each frame, as the clip
set's manifest records them; default 2 fps), optional `max_new_tokens` (default 32). Frames
are fed as in training (geovr.model.inputs): each one twice, so that one temporal token grid
is one real frame, shown at its recorded time. Output: one generated answer per item.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel

DEFAULT_MAX_NEW_TOKENS = 32
DEFAULT_FPS = 2.0  # the paper's frame rate, for frames sent without timestamps


def load_student(checkpoint_dir: str) -> tuple[Any, Any]:
    """(model, processor) of a Hugging Face directory with plain `from_pretrained`."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(checkpoint_dir)
    architecture = (config.architectures or ["AutoModelForCausalLM"])[0]
    model = getattr(transformers, architecture).from_pretrained(checkpoint_dir)
    model.eval()
    try:
        processor = transformers.AutoProcessor.from_pretrained(checkpoint_dir)
    except (OSError, ValueError):
        # A text-only student has a tokenizer and no processor config.
        processor = transformers.AutoTokenizer.from_pretrained(checkpoint_dir)
    return model, processor


def _prompt(processor: Any, question: str, with_video: bool) -> str:
    if getattr(processor, "chat_template", None):
        content = ([{"type": "video"}] if with_video else []) + [{"type": "text", "text": question}]
        messages = [{"role": "user", "content": content}]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if not with_video:
        return question
    start = getattr(processor, "vision_start_token", "")
    end = getattr(processor, "vision_end_token", "")
    return f"{start}{processor.video_token}{end}{question}"


def _doubled_video(frames: Any, timestamps: Any) -> tuple[np.ndarray, Any, float]:
    """(each frame twice, video metadata showing each real frame's time, interval in s)."""
    from transformers.video_utils import VideoMetadata

    video = np.asarray(frames, dtype=np.uint8)
    n = len(video)
    if timestamps is None:
        timestamps = [i / DEFAULT_FPS for i in range(n)]
    times = [float(t) for t in timestamps]
    if len(times) != n:
        raise ValueError(f"{len(times)} timestamps for {n} frames")
    interval = (times[-1] - times[0]) / (n - 1) if n > 1 else 1 / DEFAULT_FPS
    # fps 1 with the times as "indices": the processor's timestamps are then the times themselves
    doubled = [t for t in times for _ in range(2)]
    metadata = VideoMetadata(total_num_frames=2 * n, fps=1.0, frames_indices=doubled)
    return np.repeat(video, 2, axis=0), metadata, interval


class GeoVRStudent(PythonModel):
    """Question (+ frames) in, generated answer out."""

    def load_context(self, context: Any) -> None:
        self.model, self.processor = load_student(context.artifacts["checkpoint"])

    def _answer(self, item: dict[str, Any]) -> str:
        import torch

        inputs = self.inputs(item)
        max_new = int(item.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new, do_sample=False)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0]

    def inputs(self, item: dict[str, Any]) -> dict[str, Any]:
        """The processor's tensors for one item (what `generate` gets)."""
        frames = item.get("frames")
        with_video = frames is not None
        if with_video and not hasattr(self.processor, "video_token"):
            raise ValueError("this student has no video processor; send a question without frames")
        text = _prompt(self.processor, str(item["question"]), with_video)
        if not with_video:
            return dict(self.processor(text=[text], return_tensors="pt"))
        video, metadata, interval = _doubled_video(frames, item.get("timestamps"))
        # Frames arrive already sampled by ingest: keep them all, resample nothing.
        inputs = dict(self.processor(text=[text], videos=[video], video_metadata=[metadata],
                                     do_sample_frames=False, return_tensors="pt"))
        if "second_per_grid_ts" in inputs:  # Qwen2.5-VL: the real time between frames
            inputs["second_per_grid_ts"] = inputs["second_per_grid_ts"].new_full((1,), interval)
        return inputs

    def predict(
        self, context: Any, model_input: list[dict[str, Any]], params: dict[str, Any] | None = None
    ) -> list[str]:
        return [self._answer(item) for item in model_input]


mlflow.models.set_model(GeoVRStudent())
