"""The synthetic dataset: exact geometry, re-derivable answers, same bytes for same arguments."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from geovr.data.synth.generate import split_of, synthesize
from geovr.data.synth.qa import direction_angle, direction_label
from geovr.data.synth.render import FLOOR, render
from geovr.data.synth.scene import (
    Scene,
    SceneObject,
    intrinsics,
    look_at,
    sample_scene,
    sample_trajectory,
)
from geovr.data.video import decode_frames, probe_video


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    synthesize(out, scenes=4, frames=6, size=64, seed=3, workers=2)
    return out


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_same_arguments_same_bytes(dataset, tmp_path):
    again = tmp_path / "again"
    synthesize(again, scenes=4, frames=6, size=64, seed=3, workers=1)
    assert _tree_hash(again) == _tree_hash(dataset)
    other = tmp_path / "other_seed"
    synthesize(other, scenes=4, frames=6, size=64, seed=4, workers=1)
    assert _tree_hash(other) != _tree_hash(dataset)


@pytest.mark.slow
def test_a_cycle_of_frame_counts_gives_videos_of_those_lengths(tmp_path):
    out = tmp_path / "mixed"
    synthesize(out, scenes=3, frames=(4, 9), size=32, seed=0, workers=1)
    lengths = [probe_video(out / "videos" / f"scene_{i:04d}.mp4").n_frames for i in range(3)]
    assert lengths == [4, 9, 4]
    assert json.loads((out / "dataset.json").read_text())["generator"]["frames"] == [4, 9]


def test_layout_matches_the_contract(dataset):
    clips = [json.loads(line) for line in (dataset / "clips.jsonl").read_text().splitlines()]
    assert [c["clip_id"] for c in clips] == [f"scene_{i:04d}" for i in range(4)]
    assert {c["split"] for c in clips} == {"train", "val", "test"}
    for clip in clips:
        info = probe_video(dataset / clip["video"])
        assert (info.n_frames, info.width, info.height) == (6, 64, 64)
        gt = load_file(dataset / clip["gt"])
        assert gt["depth"].shape == (6, 64, 64) and gt["depth"].dtype == np.float32
        assert gt["intrinsics"].shape == (6, 3, 3) and gt["extrinsics"].shape == (6, 3, 4)
        rotation = gt["extrinsics"][:, :, :3].astype(np.float64)
        np.testing.assert_allclose(
            rotation @ rotation.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (6, 3, 3)), atol=1e-5
        )
        assert (gt["depth"] > 0).all()  # a closed room: every ray hits something
    assert json.loads((dataset / "dataset.json").read_text())["generator"]["seed"] == 3


def test_splits_are_by_scene():
    splits = [split_of(i, 20) for i in range(20)]
    assert splits.count("test") == 2 and splits.count("val") == 2 and splits[:16] == ["train"] * 16


def test_depth_and_pose_follow_opencv_conventions():
    """Back-project every pixel with its depth: the points land on the surfaces they show."""
    box = SceneObject("table_1", "table", (2.0, 0.4, 4.0), (1.0, 0.8, 0.6), (100, 100, 100))
    scene = Scene("t", (4.0, 3.0, 6.0), (box,))
    K, size = intrinsics(32), 32
    extrinsic = look_at(np.array([2.0, 1.5, 1.0]), np.array([2.0, 0.4, 4.0]))
    frame = render(scene, K, extrinsic, size, size)
    u, v = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    cam = np.stack(
        [(u - 16) / K[0, 0] * frame.depth, (v - 16) / K[1, 1] * frame.depth, frame.depth], -1
    )
    world = (cam.reshape(-1, 3) - extrinsic[:, 3]) @ extrinsic[:, :3]
    ids = frame.ids.reshape(-1)
    on_box = world[ids == 0]
    assert len(on_box) > 20
    assert np.all(on_box >= box.lo - 1e-4) and np.all(on_box <= box.hi + 1e-4)
    np.testing.assert_allclose(world[ids == FLOOR][:, 1], 0.0, atol=1e-4)
    # the box centre projects to where the camera looks: the image centre
    centre = extrinsic[:, :3] @ np.array(box.center) + extrinsic[:, 3]
    assert np.allclose((K @ centre)[:2] / centre[2], [16, 16], atol=1e-6)


def test_scenes_are_plausible():
    for index in range(10):
        scene = sample_scene(np.random.default_rng([0, index]), "s")
        assert 3 <= len(scene.objects) <= 10
        for a in scene.objects:
            assert np.all(a.lo >= -1e-9) and np.all(a.hi <= np.array(scene.room) + 1e-9)
            assert abs(a.lo[1]) < 1e-9  # on the floor
            for b in scene.objects:
                if a is not b:
                    overlap = np.minimum(a.hi, b.hi) - np.maximum(a.lo, b.lo)
                    assert (overlap[[0, 2]] <= 0).any()
        extrinsics = sample_trajectory(np.random.default_rng(index), scene, 8)
        centres = np.einsum("tji,tj->ti", extrinsics[:, :, :3], -extrinsics[:, :, 3])
        assert np.all(np.linalg.norm(np.diff(centres, axis=0), axis=1) < 1.0)  # smooth


def _objects(scene_json):
    return {o["category"]: o for o in scene_json["objects"]}


def test_answers_rederive_from_saved_ground_truth(dataset):
    qa = [json.loads(line) for line in (dataset / "qa.jsonl").read_text().splitlines()]
    checked = set()
    for item in qa:
        scene_json = json.loads((dataset / "scenes" / f"{item['scene_name']}.json").read_text())
        objects, qtype, q = _objects(scene_json), item["question_type"], item["question"]
        named = [c for c in objects if f"the {c} " in q or f"the {c}?" in q or f"the {c}," in q]
        if qtype == "object_counting":
            category = q.split("How many ")[1].split("(s)")[0]
            assert int(item["ground_truth"]) == sum(
                o["category"] == category for o in scene_json["objects"]
            )
        elif qtype == "room_size_estimation":
            x, _, z = scene_json["room"]["size"]
            assert float(item["ground_truth"]) == round(x * z, 1)
        elif qtype == "object_abs_distance":
            a, b = (objects[c] for c in sorted(named, key=q.index))
            assert float(item["ground_truth"]) == round(
                float(np.linalg.norm(np.subtract(a["center"], b["center"]))), 1
            )
        elif qtype == "object_size_estimation":
            (category,) = named
            assert int(item["ground_truth"]) == round(max(objects[category]["size"]) * 100)
        elif qtype.startswith("object_rel_direction"):
            a, b, c = (
                Scene.from_json(scene_json).objects[
                    [o["category"] for o in scene_json["objects"]].index(n)
                ]
                for n in sorted(named, key=q.index)
            )
            label = direction_label(direction_angle(a, b, c), qtype.rsplit("_", 1)[1])
            assert item["options"][ord(item["ground_truth"]) - ord("A")].endswith(f". {label}")
        elif qtype == "obj_appearance_order":
            answer = (
                item["options"][ord(item["ground_truth"]) - ord("A")].split(". ", 1)[1].split(", ")
            )
            first = {
                objects[c]["name"]: scene_json["first_visible_frame"][objects[c]["name"]]
                for c in answer
            }
            assert list(first.values()) == sorted(first.values())
        else:
            continue
        checked.add(qtype)
    assert {
        "object_counting",
        "room_size_estimation",
        "object_abs_distance",
        "object_size_estimation",
    } <= checked


def test_video_frames_match_the_renderer(dataset):
    frames = decode_frames(dataset / "videos" / "scene_0000.mp4")
    assert frames.shape == (6, 64, 64, 3) and frames.std() > 10  # textured, not blank


@pytest.mark.slow
def test_cli_prints_summary_last(tmp_path):
    out = tmp_path / "d"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "geovr",
            "data",
            "synth",
            "--out",
            str(out),
            "--scenes",
            "2",
            "--frames",
            "4",
            "--size",
            "32",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["scenes"] == 2 and summary["bytes"] > 0 and (out / "qa.jsonl").exists()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "geovr",
            "data",
            "synth",
            "--out",
            str(tmp_path / "x"),
            "--size",
            "33",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "even size" in bad.stderr
