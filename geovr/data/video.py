"""Video files through PyAV (FFmpeg): encode frames, probe a file, decode chosen frames.

Encoding is bit-exact (FFmpeg `bitexact` flags, one encoder thread) so the same frames
give the same bytes, which keeps `data.dvc` valid when the synthetic set is regenerated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from geovr.errors import GeoVRError


class VideoError(GeoVRError):
    """A file that is not a readable video."""


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    fps: float
    n_frames: int
    width: int
    height: int
    duration_s: float


def _pick_codec() -> str:
    """H.264 where this FFmpeg build has an encoder for it, MPEG-4 part 2 otherwise."""
    for name in ("libx264", "h264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - PyAV raises several types for a missing codec
            continue
    raise VideoError("this FFmpeg build has no H.264 or MPEG-4 encoder")


def encode_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 8, crf: int = 18) -> str:
    """Write RGB frames `[T,H,W,3] uint8` to an mp4; returns the codec used.

    H and W must be even (4:2:0 chroma). The caller handles atomicity (write to a temp name).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be [T,H,W,3] uint8, got {frames.shape} {frames.dtype}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"frame size must be even, got {width}x{height}")
    codec = _pick_codec()
    with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        # Settings go on the codec context: attributes set on the stream object itself are
        # silently ignored, and a threaded x264 gives load-dependent bytes.
        context = stream.codec_context
        context.width, context.height, context.pix_fmt = width, height, "yuv420p"
        context.thread_count = 1
        context.flags |= av.codec.context.Flags.bitexact
        if codec == "libx264":
            context.options = {
                "crf": str(crf),
                "preset": "medium",
                "threads": "1",
                "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0",
            }
        else:
            context.bit_rate = 4_000_000
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return codec


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open the file and read its stream header; counts frames by demuxing if the header lacks
    it."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            n_frames = stream.frames or sum(
                1 for packet in container.demux(stream) if packet.size > 0
            )
            fps = float(rate) if rate else 0.0
            duration = n_frames / fps if fps else 0.0
            return VideoInfo(
                codec=stream.codec_context.name,
                fps=fps,
                n_frames=int(n_frames),
                width=int(stream.codec_context.width),
                height=int(stream.codec_context.height),
                duration_s=duration,
            )
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise VideoError(f"{path}: not a readable video ({type(e).__name__}: {e})") from e


def decode_frames(path: str | os.PathLike, indices: list[int] | None = None) -> np.ndarray:
    """Decode frames (all, or the given 0-based indices in any order) as `[N,H,W,3] uint8`.

    Decodes sequentially and keeps only the wanted frames: clips are short and seeking in
    long-GOP H.264 would decode the same frames anyway.
    """
    wanted = None if indices is None else set(indices)
    kept: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if wanted is None or i in wanted:
                    kept[i] = frame.to_ndarray(format="rgb24")
                if wanted is not None and len(kept) == len(wanted):
                    break
    except (av.FFmpegError, OSError, ValueError, IndexError) as e:
        raise VideoError(f"{path}: decoding failed ({type(e).__name__}: {e})") from e
    order = sorted(kept) if indices is None else list(indices)
    missing = [i for i in order if i not in kept]
    if missing:
        raise VideoError(f"{path}: frames {missing[:5]} could not be decoded (file truncated?)")
    return np.stack([kept[i] for i in order])
