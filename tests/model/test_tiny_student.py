"""The tiny Qwen3-VL student: frame layout, a real forward, and from_pretrained from disk."""

import torch

from geovr.model.config import map_layers
from geovr.model.tiny import VIDEO_TOKEN, VISION_END, VISION_START, build_tiny_student, load_student
from geovr.model.video_tokens import patchify, repeat_frames, tokens_per_frame, video_layout


def _inputs(n_frames=3, size=64):
    frames = repeat_frames(torch.randn(n_frames, 3, size, size))
    pixels, grid = patchify(frames)
    per_frame = tokens_per_frame(int(grid[0, 1]), int(grid[0, 2]))
    layout = video_layout([1, 2], [5, 6], n_frames, per_frame, VIDEO_TOKEN, VISION_START, VISION_END)
    return layout, pixels, grid


def test_layout_puts_each_frame_between_vision_markers():
    layout, pixels, grid = _inputs()
    assert grid.tolist() == [[3, 4, 4]] and pixels.shape == (3 * 16, 3 * 2 * 16 * 16)
    ids = layout.input_ids[0]
    assert len(layout.frame_spans) == 3
    for start, end in layout.frame_spans:
        assert end - start == 4
        assert ids[start - 1] == VISION_START and ids[end] == VISION_END
        assert (ids[start:end] == VIDEO_TOKEN).all()
    assert int(layout.mm_token_type_ids.sum()) == 2 * 12


def test_forward_gives_one_hidden_state_per_layer_and_reload_matches(tmp_path):
    model = build_tiny_student(seed=0).eval()
    layout, pixels, grid = _inputs()
    kwargs = {"input_ids": layout.input_ids, "mm_token_type_ids": layout.mm_token_type_ids,
              "pixel_values_videos": pixels, "video_grid_thw": grid, "output_hidden_states": True}
    with torch.no_grad():
        out = model(**kwargs)
    n_layers = model.config.text_config.num_hidden_layers
    assert len(out.hidden_states) == n_layers + 1
    assert map_layers(n_layers)[-1] == n_layers  # the last mapped layer is the last hidden state
    model.save_pretrained(tmp_path / "tiny")
    reloaded = load_student(str(tmp_path / "tiny")).eval()
    with torch.no_grad():
        again = reloaded(**kwargs)
    torch.testing.assert_close(again.logits, out.logits)
