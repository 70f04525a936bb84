"""`geovr distill --teacher vggt --scale-teacher da3-metric` (the paper's pair) on clips without
ground truth, against fakes of the upstream APIs (tests/teachers/fakes.py): the metric
conversion raw * ((fx + fy) / 2) / 300 at DA3's processing size, DA3's sky mask, the
confidence median over non-sky pixels, and the count of clips left without a scale."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from geovr.artifacts import META_FILE, read_meta
from geovr.cli import main
from geovr.teachers.store import TargetStore

from .fakes import FakeDA3Metric, install_da3, install_vggt
from .synth import make_clip, write_clipset

SKY_ROWS = 8  # of DA3's 28: sky, with the lowest teacher confidence


def blocky_clip(seed: int) -> dict:
    """A 56x56 clip made of 2x2 blocks of a 28x28 render (so DA3's half-size output maps back
    exactly), with fy != fx so that the focal is the mean of the two."""
    small = make_clip(seed, hw=(28, 28), focal=20.0)
    clip = {k: small[k].repeat(2, axis=1).repeat(2, axis=2) for k in ("frames", "depth")}
    k = small["intrinsics"].astype(np.float64) * [[2.0], [2.0], [1.0]]
    k[:, 1, 1] *= 1.25
    clip.update(intrinsics=k, extrinsics=small["extrinsics"], metric28=small["depth"])
    return clip


def da3_metric_output(clip: dict, all_sky: bool = False) -> types.SimpleNamespace:
    """What DA3-METRIC returns at 28x28: raw canonical depth and a sky map. Sky rows hold
    garbage; below the sky, odd columns are wrong (x3) where VGGT's confidence is low."""
    k28 = clip["intrinsics"][:, :2, :2] / 2
    focal = (k28[:, 0, 0] + k28[:, 1, 1]) / 2
    metric = clip["metric28"].astype(np.float64).copy()
    metric[:, :SKY_ROWS] = 1e4
    metric[:, SKY_ROWS:, 1::2] *= 3
    sky = np.zeros(metric.shape, np.float32)
    sky[:, :SKY_ROWS] = 1.0 if not all_sky else 0.9
    sky[:, SKY_ROWS:] = 0.29 if not all_sky else 0.3  # DA3: non-sky is sky < 0.3
    return types.SimpleNamespace(
        depth=metric * 300 / focal[:, None, None],
        sky=sky,
        conf=None,
        intrinsics=None,
        extrinsics=None,
        is_metric=1,
        aux={},
    )


def vggt_conf(clip: dict) -> np.ndarray:
    """Confidence at 56x56: sky 0.5, low (1.0) under DA3's wrong columns, high (2.0) elsewhere.
    Over all pixels the median would be 1.0, admitting the wrong columns."""
    conf = np.full(clip["metric28"].shape, 2.0, np.float32)
    conf[:, :SKY_ROWS], conf[:, SKY_ROWS:, 1::2] = 0.5, 1.0
    return conf.repeat(2, axis=1).repeat(2, axis=2)


@pytest.fixture
def paired(tmp_path, monkeypatch):
    """A clip set of 3 clips without ground truth (real video); c2 is all sky to DA3."""
    clips = {f"c{i}": blocky_clip(i) for i in range(3)}
    for clip in clips.values():
        clip["conf"] = vggt_conf(clip)
    install_vggt(monkeypatch, list(clips.values()))
    FakeDA3Metric.outputs = {
        c["frames"].tobytes(): da3_metric_output(c, all_sky=name == "c2")
        for name, c in clips.items()
    }
    install_da3(monkeypatch, FakeDA3Metric)
    root = write_clipset(tmp_path / "clips", clips, no_gt=tuple(clips))
    return root, clips


def distill_args(clips, out, *extra):
    return [
        "distill",
        "--clips",
        str(clips),
        "--teacher",
        "vggt",
        "-o",
        "input_size=56",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_vggt_with_da3_metric_gives_the_metric_scale(paired, tmp_path, capsys):
    root, clips = paired
    out = tmp_path / "targets"
    assert main(distill_args(root, out, "--scale-teacher", "da3-metric")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["teacher"] == "vggt+da3-metric" and summary["quarantined"] == 0
    assert summary["clips_without_scale"] == 1 == read_meta(out, "targets")["clips_without_scale"]
    store = TargetStore(str(out))
    for name in ("c0", "c1"):
        t = store.get(name)
        valid = clips[name]["depth"] > 0
        assert t.scale_valid
        np.testing.assert_allclose(
            (t.depth * t.metric_scale)[valid], clips[name]["depth"][valid], rtol=1e-3
        )
    assert not store.get("c2").scale_valid


def test_without_any_metric_scale_distill_fails_naming_the_teacher(paired, tmp_path, capsys):
    root, _ = paired
    out = tmp_path / "targets"
    assert main(distill_args(root, out)) == 2  # vggt alone: no ground truth, no scale teacher
    err = capsys.readouterr().err.strip()
    assert "teacher 'vggt'" in err and "--scale-teacher" in err and len(err.splitlines()) == 1
    assert not (out / META_FILE).exists()


def test_a_pair_whose_every_clip_is_sky_fails_naming_the_pair(paired, tmp_path, capsys):
    root, clips = paired
    FakeDA3Metric.outputs = {
        c["frames"].tobytes(): da3_metric_output(c, all_sky=True) for c in clips.values()
    }
    out = tmp_path / "targets"
    assert main(distill_args(root, out, "--scale-teacher", "da3-metric")) == 2
    err = capsys.readouterr().err.strip()
    assert "teacher 'vggt+da3-metric': none of the 3 stored clips got a metric scale" in err
    assert not (out / META_FILE).exists()
