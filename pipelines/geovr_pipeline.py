"""The GeoVR Kubeflow pipeline: versioned videos in, teacher targets out (so far).

    fetch_data (DVC rev) -> ingest -> plan -> ParallelFor(distill per shard range) -> merge
      -> train -> evaluate -> register        (the last three are not built yet)

`geovr pipeline compile` writes `pipelines/geovr_pipeline.yaml` (checked by a golden test);
`geovr pipeline run` executes this same function through `kfp.local`.
(No `from __future__ import annotations` here: KFP reads the annotations at runtime.)
"""


import os
from pathlib import Path

from kfp import compiler, dsl

from components.distill.component import distill, distill_merge, plan_shard_ranges
from components.fetch_data.component import fetch_data
from components.ingest.component import ingest

PIPELINE_NAME = "geovr"
# GPUs per distill task, fixed when the pipeline is compiled: KFP resolves accelerator
# limits from pipeline parameters on a cluster but kfp.local cannot (set 0 for CPU nodes).
DISTILL_GPUS = int(os.environ.get("GEOVR_DISTILL_GPUS", "1"))
# Stages of DESIGN.md that this pipeline does not run yet; `geovr pipeline run` says so.
NOT_BUILT = ("train", "evaluate", "register")


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="GeoVR: DVC-versioned video -> 3D teacher targets -> (training, evaluation, registry: not built yet).",
)
def geovr_pipeline(
    data_repo: str,
    data_rev: str = "main",
    dvc_remote: str = "s3",
    dvc_jobs: int = 8,
    frames: int = 16,
    max_side: int = 504,
    min_valid_fraction: float = 0.5,
    teacher: str = "oracle",
    teacher_weights: str = "",
    distill_tasks: int = 4,
) -> dsl.Dataset:
    """Shown in the Kubeflow UI with these descriptions.

    Args:
        data_repo: git URL (or local path) of the repository whose data.dvc versions the videos.
        data_rev: git revision of the data; a branch makes scheduled runs take the newest data.
        dvc_remote: DVC remote to download from ("" = the repository's default remote).
        dvc_jobs: parallel DVC downloads.
        frames: frames sampled per clip.
        max_side: longest side of the stored frames in pixels.
        min_valid_fraction: ingest fails if fewer clips than this survive validation.
        teacher: 3D teacher: oracle (ground truth), depth-anything, vggt, da3.
        teacher_weights: local path or hub id of the teacher weights ("" = the teacher's default).
        distill_tasks: parallel distill tasks (one GPU each on a cluster).
    """
    data = fetch_data(data_repo=data_repo, data_rev=data_rev, dvc_remote=dvc_remote, jobs=dvc_jobs)
    clips = ingest(data=data.outputs["data"], frames=frames, max_side=max_side, min_valid_fraction=min_valid_fraction)
    plan = plan_shard_ranges(clips=clips.outputs["clips"], tasks=distill_tasks)
    with dsl.ParallelFor(plan.output) as shard_range:
        part = distill(clips=clips.outputs["clips"], teacher=teacher, weights=teacher_weights, shard_range=shard_range)
        if DISTILL_GPUS:
            part.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(DISTILL_GPUS)
    targets = distill_merge(parts=dsl.Collected(part.outputs["targets"]))
    return targets.outputs["targets"]


def compile_pipeline(out: Path) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(geovr_pipeline, package_path=str(out))
    return str(out)
