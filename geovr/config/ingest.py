"""The ingest stage's knobs: which source videos are accepted, how frames are sampled and
stored, and how the clip set is sharded.

    IngestConfig(frames=8, max_side=128).recorded()   # what the clip set's meta.json holds
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from geovr.errors import GeoVRError

SAMPLING_RULES = ("count", "fps")
FPS_FIELDS = ("fps", "min_frames", "max_frames")  # used by the "fps" rule only


@dataclass(frozen=True)
class VideoLimits:
    """What ingest accepts as a source video (the resolution limits are per side, in px)."""

    min_side: int = 16
    """Smallest accepted source side (px)."""
    max_side: int = 4096
    """Largest accepted source side (px)."""
    min_fps: float = 1.0
    """Slowest accepted frame rate."""
    max_fps: float = 240.0
    """Fastest accepted frame rate."""
    max_duration_s: float = 3600.0
    """Longest accepted video (seconds)."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_side <= self.max_side:
            raise GeoVRError(
                f"source side limits must satisfy 1 <= --min-input-side <= "
                f"--max-input-side, got {self.min_side} and {self.max_side}"
            )


@dataclass(frozen=True)
class IngestConfig:
    """Everything that shapes the clip set (`workers` only changes the speed)."""

    frames: int = 16
    """Frames sampled per clip by the "count" rule (>= 2)."""
    max_side: int = 504
    """Longest stored side in px (GeoVR feeds VGGT 504 px, a multiple of 28)."""
    min_valid_fraction: float = 0.5
    """Fail, writing nothing, if fewer clips than this fraction are valid."""
    clips_per_shard: int = 16
    """Clips per shard of the clip set."""
    limits: VideoLimits = field(default_factory=VideoLimits)
    """What a source video must satisfy to be accepted."""
    workers: int = 2
    """Decoding processes (1: in this process)."""
    sampling: str = "count"
    """count: `frames` per clip; fps: `fps` frames per second within min/max_frames."""
    fps: float = 2.0
    """Frames per second of video when sampling is "fps" (the paper's: 2)."""
    min_frames: int = 4
    """Fewest frames per clip when sampling is "fps" (shorter clips are quarantined)."""
    max_frames: int = 32
    """Most frames per clip when sampling is "fps"."""

    def __post_init__(self) -> None:
        # 0 and 0.0 must hash alike in meta.json (the CLI passes floats, Python callers ints).
        object.__setattr__(self, "min_valid_fraction", float(self.min_valid_fraction))
        if self.frames < 2:
            raise GeoVRError(
                f"--frames must be >= 2 (poses are relative to the first frame), got {self.frames}"
            )
        if self.max_side < 16:
            raise GeoVRError(f"--max-side must be >= 16, got {self.max_side}")
        if not 0.0 <= self.min_valid_fraction <= 1.0:
            raise GeoVRError(
                f"--min-valid-fraction must be in [0, 1], got {self.min_valid_fraction}"
            )
        if self.clips_per_shard < 1 or self.workers < 1:
            raise GeoVRError("--clips-per-shard and --workers must be >= 1")
        self._check_sampling()

    def _check_sampling(self) -> None:
        object.__setattr__(self, "fps", float(self.fps))  # 2 and 2.0 hash alike
        if self.sampling not in SAMPLING_RULES:
            raise GeoVRError(f"--sampling {self.sampling!r}: choose {' or '.join(SAMPLING_RULES)}")
        if not 0 < self.fps < float("inf"):
            raise GeoVRError(f"--fps must be a positive number, got {self.fps}")
        if not 2 <= self.min_frames <= self.max_frames:
            raise GeoVRError(
                f"need 2 <= --min-frames <= --max-frames, got {self.min_frames} "
                f"and {self.max_frames}"
            )

    def sampling_record(self) -> dict[str, Any]:
        """The rule that picks a clip's frames, as its manifest row records it."""
        if self.sampling == "count":
            return {"rule": "count", "frames": self.frames}
        return {"rule": "fps", **{name: getattr(self, name) for name in FPS_FIELDS}}

    def recorded(self) -> dict[str, Any]:
        """The config as written to meta.json and hashed: without `workers`, so that the
        output bytes do not depend on how many processes decoded them."""
        config = asdict(self)
        del config["workers"]
        # Only the chosen rule's fields: a "count" clip set's config (and hash) is as before.
        unused = FPS_FIELDS + ("sampling",) if self.sampling == "count" else ("frames",)
        for name in unused:
            del config[name]
        return config
