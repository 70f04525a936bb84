"""The one config tree: a dataclass per stage holds every default, with a docstring per field,
and the named presets (`embedded`, `paper`) that the command line, the KFP components and the
pipeline take their defaults from. Base layer: of geovr it imports only geovr.errors and
geovr.devices.

    from geovr.config import preset
    cfg = preset("paper")
    cfg.train.grad_accum, cfg.ingest.sampling        # 4, 'fps'
"""

from geovr.config.ingest import IngestConfig, VideoLimits
from geovr.config.presets import PRESETS, RunConfig, preset
from geovr.config.stages import DistillConfig, EvaluateConfig, FetchConfig, RegisterConfig
from geovr.config.train import TrainConfig

__all__ = [
    "PRESETS",
    "DistillConfig",
    "EvaluateConfig",
    "FetchConfig",
    "IngestConfig",
    "RegisterConfig",
    "RunConfig",
    "TrainConfig",
    "VideoLimits",
    "preset",
]
