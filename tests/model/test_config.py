"""GeoVR config: layer mapping, objectives, weights, JSON round trip."""

import pytest

from geovr.model.config import DEFAULT_LOSS_WEIGHTS, GeoVRConfig, HeadWidths, parse_objectives
from geovr.teachers.base import map_layers


def test_layer_mapping():
    assert map_layers(28) == (6, 14, 21, 28)  # Qwen3-VL-2B: hidden_states[28] is the last layer
    assert map_layers(36) == (8, 18, 27, 36)  # Qwen3-VL-4B; 7.5 rounds half up, not to even
    assert map_layers(24) == (5, 12, 18, 24)  # hidden_states indices = VGGT's 0-based blocks + 1
    assert map_layers(12) == (3, 6, 9, 12)  # a 12-block depth teacher's feature layers
    assert map_layers(4) == (1, 2, 3, 4)
    assert map_layers(2) == (1, 1, 2, 2)  # never the embedding output
    assert map_layers(28, teacher_layers=(11,), teacher_depth=12) == (28,)


def test_objectives_parse_and_validate():
    assert parse_objectives("depth, lm,cam") == ("lm", "cam", "depth")
    assert GeoVRConfig(objectives=("lm",)).geometry == ()
    assert GeoVRConfig().geometry == ("cam", "depth", "scale", "distill")
    with pytest.raises(ValueError, match="unknown objectives"):
        GeoVRConfig(objectives=("lm", "normals"))
    with pytest.raises(ValueError, match="no objective"):
        parse_objectives("")


def test_weights_default_to_the_paper_and_are_configurable():
    assert (
        GeoVRConfig().loss_weights
        == DEFAULT_LOSS_WEIGHTS
        == {"cam": 2.5, "depth": 1.0, "scale": 1.0, "distill": 1.0}
    )
    assert GeoVRConfig(loss_weights={"cam": 1.0}).loss_weights["cam"] == 1.0
    with pytest.raises(ValueError, match="unknown objectives"):
        GeoVRConfig(loss_weights={"lm": 2.0})


def test_json_round_trip():
    config = GeoVRConfig(
        objectives=("lm", "depth"),
        widths=HeadWidths.tiny(),
        teacher_feature_dim=8,
        loss_weights={"depth": 0.5},
        freeze_vision=False,
    )
    again = GeoVRConfig.from_dict(config.to_dict())
    assert again == config
    with pytest.raises(ValueError, match="unknown GeoVR config keys"):
        GeoVRConfig.from_dict({**config.to_dict(), "lr": 1})
