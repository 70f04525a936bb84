"""The served pyfunc (geovr/registry/student_model.py) feeds a clip exactly as evaluation and
training do (geovr.model.inputs): each frame twice, at its recorded timestamp."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from geovr.model.inputs import generation_inputs, question_text
from geovr.model.tiny import build_tiny_student
from geovr.registry.student_model import GeoVRStudent

FACTOR = {"qwen3_vl": 32, "qwen2_5_vl": 28}  # patch * merge: frames already at a multiple
TIMESTAMPS = [0.0, 0.625, 1.75]  # uneven, as the fps rule records them


@pytest.mark.parametrize("family", sorted(FACTOR))
def test_served_model_feeds_frames_and_timestamps_as_evaluation_does(family, tmp_path):
    build_tiny_student(family, out_dir=tmp_path)
    served = GeoVRStudent()
    served.load_context(SimpleNamespace(artifacts={"checkpoint": str(tmp_path)}))
    f = FACTOR[family]
    frames = np.random.default_rng(0).integers(0, 256, (3, 2 * f, 3 * f, 3), dtype=np.uint8)
    qa = {"question": "How many chairs are in the room?", "options": None}
    item = {"question": question_text(qa["question"]), "frames": frames, "timestamps": TIMESTAMPS}
    got = served.inputs(item)
    expected = generation_inputs(served.processor, frames, [qa], timestamps=TIMESTAMPS)
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
    assert int(got["video_grid_thw"][0, 0]) == 3  # one temporal grid per real frame
    with pytest.raises(ValueError, match="2 timestamps for 3 frames"):
        served.inputs({**item, "timestamps": TIMESTAMPS[:2]})
