"""KFP component: validate, sample and shard a dataset into a clip set (the pipeline's
ingest step; what `geovr ingest` runs).

Thin by design: standard-library imports at module level (kfp aside); the body imports
`geovr` and calls `geovr.data.ingest.ingest`.

    from components.ingest.component import ingest
    task = ingest(data=fetch.outputs["data"], frames=16, max_side=504, min_valid_fraction=0.5)
    task.outputs["clips"], task.outputs["summary"]

The defaults are the `paper` preset's (geovr/config/presets.py; tests/config checks them).
"""

from kfp import dsl

from components import BASE_IMAGE


# The project image already holds kfp and geovr: nothing is pip-installed at run time.
@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def ingest(
    data: dsl.Input[dsl.Dataset],
    clips: dsl.Output[dsl.Dataset],
    summary: dsl.Output[dsl.Metrics],
    frames: int = 16,
    max_side: int = 504,
    min_valid_fraction: float = 0.5,
    clips_per_shard: int = 16,
    sampling: str = "fps",
    fps: float = 2.0,
    min_frames: int = 4,
    max_frames: int = 32,
):
    """Write the clip set of the dataset `data` (docs/contracts.md sections 1 and 2) to
    `clips`; log the counts to `summary`. Fails, writing nothing, if fewer than
    `min_valid_fraction` of the clips are valid. `sampling` "count" takes `frames` per clip,
    "fps" the paper's `fps` frames per second within [`min_frames`, `max_frames`]."""
    import json

    from geovr.config.ingest import IngestConfig
    from geovr.data.ingest import ingest as run_ingest

    cfg = IngestConfig(
        frames=frames,
        max_side=max_side,
        min_valid_fraction=min_valid_fraction,
        clips_per_shard=clips_per_shard,
        sampling=sampling,
        fps=fps,
        min_frames=min_frames,
        max_frames=max_frames,
    )
    result = run_ingest(data.path, clips.path, cfg)
    counts = (
        "clips_in",
        "valid",
        "quarantined",
        "qa_kept",
        "qa_dropped",
        "shards",
        "bytes_written",
    )
    for name in counts:
        summary.log_metric(name, result[name])
    clips.metadata.update({name: result[name] for name in counts})
    clips.metadata["dataset_hash"] = result["dataset_hash"]
    print(json.dumps(result, sort_keys=True))
