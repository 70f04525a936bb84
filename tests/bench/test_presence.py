"""The presence diagnostic (issue 22): AUC and histograms checkable by hand, a planted signal
found and noise not, and a small run that measures every feature set on real synthetic clips."""

from __future__ import annotations

import numpy as np
import pytest

from bench import presence
from geovr.data.synth.scene import CATEGORIES


def test_auc_of_separated_reversed_and_tied_scores():
    labels = np.array([True, True, False, False])
    assert presence.roc_auc(np.array([3.0, 2.0, 1.0, 0.0]), labels) == 1.0
    assert presence.roc_auc(np.array([0.0, 1.0, 2.0, 3.0]), labels) == 0.0
    assert presence.roc_auc(np.ones(4), labels) == 0.5


def test_a_token_footprint_mixes_the_colours_a_frame_keeps_apart():
    # a 2x2 frame, left half black, right half white: two bins at full resolution, one grey
    # bin once a 2x2 footprint averages them
    frame = np.zeros((1, 2, 2, 3), np.uint8)
    frame[:, :, 1] = 255
    full = presence.colour_histogram(frame)
    pooled = presence.colour_histogram(frame, footprint=2)
    assert (full > 0).sum() == 2 and full.max() == pytest.approx(np.log1p(2))
    assert (pooled > 0).sum() == 1 and pooled.max() == pytest.approx(np.log1p(1))


def test_held_out_auc_finds_a_planted_signal_and_not_noise():
    rng = np.random.default_rng(0)
    labels = rng.random((200, len(CATEGORIES))) < 0.4
    train = np.arange(200) < 150
    planted = labels + 0.3 * rng.normal(size=labels.shape)
    found = presence.held_out_auc(planted, labels, train)
    assert set(found["per_category"]) == set(CATEGORIES) and found["mean"] > 0.95
    noise = presence.held_out_auc(rng.normal(size=(200, 20)), labels, train)
    assert abs(noise["mean"] - 0.5) < 0.1


@pytest.mark.slow
@pytest.mark.integration
def test_presence_measures_every_feature_set_on_synthetic_clips(tmp_path):
    result = presence.main(
        ["--sizes", "64", "--scenes", "8", "--frames", "4", "--results", str(tmp_path)]
    )
    found = result["64"]
    assert found["footprint_px"] == 32 and sum(found["clips"].values()) == 8
    assert set(found["auc"]) == {"frames", "tokens", "student"}
    for auc in found["auc"].values():
        # 2 held-out clips of this fixed synthesis: a few categories are seen in one, not the other
        assert auc["per_category"] and all(0 <= v <= 1 for v in auc["per_category"].values())
        assert auc["mean"] == pytest.approx(np.mean(list(auc["per_category"].values())))
    assert (tmp_path / "presence.json").is_file()
