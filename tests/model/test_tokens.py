"""Camera/scale token insertion and M-RoPE positions, on both families' real processors."""

import pytest
import torch

from geovr.model.adapters import adapter_by_family
from geovr.model.tokens import CAMERA, CAMERA_FIRST, IGNORE, ORIGINAL, SCALE, insert_geometry_tokens


def _layout(kit, family, camera=True, scale=True, n_clips=2):
    student = kit.student(family)
    adapter = adapter_by_family(family)
    batch = kit.batch(family, n_clips=n_clips, with_targets=False)
    positions = adapter.rope_positions(student, batch)
    layout = insert_geometry_tokens(
        batch["input_ids"],
        batch["attention_mask"],
        batch["mm_token_type_ids"],
        batch["labels"],
        batch["video_grid_thw"],
        positions,
        video_token_id=adapter.video_token_id(student),
        vision_end_token_id=adapter.vision_end_token_id(student),
        merge=2,
        pad_token_id=0,
        camera=camera,
        scale=scale,
    )
    return student, adapter, batch, positions, layout


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_camera_after_each_frame_and_scale_after_the_video(kit, family):
    student, adapter, batch, positions, layout = _layout(kit, family)
    video, end = adapter.video_token_id(student), adapter.vision_end_token_id(student)
    seq = layout.input_ids.shape[1]
    for b in range(2):
        kinds, ids = layout.kinds[b], layout.input_ids[b]
        cams = ((kinds == CAMERA_FIRST) | (kinds == CAMERA)).nonzero().squeeze(-1)
        assert len(cams) == kit.N_FRAMES
        assert kinds[cams[0]] == CAMERA_FIRST and (kinds[cams[1:]] == CAMERA).all()
        frames = layout.frame_index[b * kit.N_FRAMES : (b + 1) * kit.N_FRAMES] - b * seq
        assert frames.shape == (kit.N_FRAMES, 6)  # 2x3 tokens per frame
        assert (ids[frames] == video).all()
        assert torch.equal(cams, frames[:, -1] + 1)  # right after each frame's last visual token
        (scale,) = (kinds == SCALE).nonzero().squeeze(-1).tolist()
        assert ids[scale - 1] == end and ids[scale + 1] != end and scale > cams[-1]
        assert (
            scale - cams[-1] >= 2 and (ids[cams[-1] + 1 : scale] == end).all()
        )  # after the closing marker(s)
        assert (layout.labels[b][kinds != ORIGINAL] == IGNORE).all()
        assert (layout.mm_token_type_ids[b][kinds != ORIGINAL] == 0).all()
    assert layout.camera_index.tolist() == [
        b * seq + i
        for b in range(2)
        for i in ((layout.kinds[b] == CAMERA_FIRST) | (layout.kinds[b] == CAMERA))
        .nonzero()
        .squeeze(-1)
        .tolist()
    ]
    assert layout.scale_index.shape == (2,)


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_original_tokens_keep_their_inference_positions(kit, family):
    _, _, batch, positions, layout = _layout(kit, family)
    for b in range(2):
        keep = (layout.kinds[b] == ORIGINAL) & layout.attention_mask[b].bool()
        valid = batch["attention_mask"][b].bool()
        assert torch.equal(layout.input_ids[b][keep], batch["input_ids"][b][valid])
        assert torch.equal(layout.labels[b][keep], batch["labels"][b][valid])
        assert torch.equal(layout.position_ids[:, b][:, keep], positions[:, b][:, valid])
        assert int(layout.attention_mask[b].sum()) == int(valid.sum()) + kit.N_FRAMES + 1


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_inserted_positions_follow_their_frame(kit, family):
    _, _, _, _, layout = _layout(kit, family, n_clips=1)
    pos, kinds = layout.position_ids[:, 0], layout.kinds[0]
    cams = ((kinds == CAMERA_FIRST) | (kinds == CAMERA)).nonzero().squeeze(-1)
    for f, cam in enumerate(cams.tolist()):
        frame = pos[:, layout.frame_index[f]]  # [3, 6] positions of the frame's 2x3 tokens
        assert (frame[0] == frame[0, 0]).all()
        expected = [
            int(frame[0, 0]),
            int(frame[1].min() + frame[1].max()) // 2,
            int(frame[2].min() + frame[2].max()) // 2,
        ]
        assert pos[:, cam].tolist() == expected  # the frame's time, the centre of its grid
    temporal = [int(pos[0, c]) for c in cams]
    assert temporal == sorted(temporal) and len(set(temporal)) == kit.N_FRAMES
    (scale,) = (kinds == SCALE).nonzero().squeeze(-1).tolist()
    assert torch.equal(pos[:, scale], pos[:, scale - 1])  # the closing <|vision_end|>'s position


def test_only_the_requested_tokens_are_inserted(kit):
    _, _, batch, _, cam_only = _layout(kit, "qwen3_vl", camera=True, scale=False)
    assert int((cam_only.kinds == SCALE).sum()) == 0 and cam_only.scale_index is None
    assert int(cam_only.inserted.sum()) == 2 * kit.N_FRAMES
    _, _, batch, _, none = _layout(kit, "qwen3_vl", camera=False, scale=False)
    assert (
        none.input_ids is batch["input_ids"]
        and none.position_ids is None
        and not none.inserted.any()
    )
    assert none.frame_index.shape == (2 * kit.N_FRAMES, 6)


def test_a_wrong_video_token_count_is_refused(kit):
    student, adapter, batch, positions, _ = _layout(kit, "qwen3_vl")
    grid = batch["video_grid_thw"].clone()
    grid[:, 0] = 4  # the sequence has 3 frames of tokens
    with pytest.raises(ValueError, match="video tokens"):
        insert_geometry_tokens(
            batch["input_ids"],
            batch["attention_mask"],
            batch["mm_token_type_ids"],
            None,
            grid,
            positions,
            video_token_id=adapter.video_token_id(student),
            vision_end_token_id=0,
            merge=2,
            pad_token_id=0,
            camera=True,
            scale=True,
        )
