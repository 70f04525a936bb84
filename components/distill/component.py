"""KFP components: teacher distillation (one task per clip-shard range) and the merge.

Thin by design: standard-library imports at module level (kfp aside); the bodies import
`geovr` and call `geovr.teachers.distill.run_distill` / `geovr.teachers.merge.merge_targets`
(what `geovr distill` and `geovr distill-merge` run).

    from components.distill.component import distill, distill_merge
    with dsl.ParallelFor(["0:8", "8:16"]) as shard_range:              # one GPU per task
        task = distill(clips=ingest.outputs["clips"], teacher="vggt", scale_teacher="da3-metric",
                       shard_range=shard_range, cache_dir="/mnt/geovr-cache/targets")
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
    merged = distill_merge(parts=dsl.Collected(task.outputs["targets"]))

The defaults are the `paper` preset's (geovr/config/presets.py; tests/config checks them).
"""

from typing import NamedTuple

from kfp import dsl

from components import BASE_IMAGE


# The project image already holds kfp and geovr: nothing is pip-installed at run time.
@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def distill(
    clips: dsl.Input[dsl.Dataset],
    teacher: str,
    targets: dsl.Output[dsl.Dataset],
    shard_range: str = "",
    weights: str = "",
    batch_size: int = 8,
    device: str = "auto",
    cache_dir: str = "",
    scale_teacher: str = "da3-metric",
    scale_weights: str = "",
    teacher_options: str = "",
) -> NamedTuple("DistillOutputs", [("computed", int), ("reused", int), ("quarantined", int)]):
    """Targets for the clips in `shard_range` ("" = all) of the clip set.

    `scale_teacher` ("" = ground truth where a clip has it) pairs a metric-scale source with
    the teacher (the paper: vggt + da3-metric); `teacher_options` is a JSON object of the
    teacher's constructor options (what `geovr distill -o KEY=VALUE` passes).

    `cache_dir` (optional, e.g. a mounted volume) makes the work survive retries and later
    runs: distill runs there (one subdirectory per shard range, so parallel tasks never share
    one) and the result is then linked or copied into `targets`.
    """
    import json
    from collections import namedtuple

    from geovr.teachers.distill import options_from_json, run_distill
    from geovr.teachers.merge import merge_targets
    from geovr.teachers.pair import pair_name

    pair = pair_name(teacher, scale_teacher)
    work = targets.path
    if cache_dir:
        work = f"{cache_dir.rstrip('/')}/{pair}-{shard_range.replace(':', '-') or 'all'}"
    summary = run_distill(
        clips.path,
        teacher,
        work,
        shard_range=shard_range or None,
        weights=weights or None,
        batch_size=batch_size,
        device=device,
        options=options_from_json(teacher_options),
        scale_teacher=scale_teacher or None,
        scale_weights=scale_weights or None,
    )
    if cache_dir:
        merge_targets([work], targets.path)
    print(json.dumps(summary, sort_keys=True))
    targets.metadata.update(
        {
            k: summary[k]
            for k in ("teacher", "teacher_hash", "clips", "quarantined", "clips_without_scale")
        }
    )
    outputs = namedtuple("DistillOutputs", ["computed", "reused", "quarantined"])
    return outputs(summary["computed"], summary["reused"], summary["quarantined"])


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def distill_merge(
    parts: dsl.Input[list[dsl.Dataset]],
    targets: dsl.Output[dsl.Dataset],
) -> int:
    """Join the targets of parallel distill tasks into one targets artifact.

    Returns the clip count.
    """
    import json

    from geovr.teachers.merge import merge_targets

    summary = merge_targets([part.path for part in parts], targets.path)
    print(json.dumps(summary, sort_keys=True))
    targets.metadata.update(
        {k: summary[k] for k in ("clips", "quarantined", "clips_without_scale")}
    )
    return summary["clips"]


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def plan_shard_ranges(clips: dsl.Input[dsl.Dataset], tasks: int) -> list:
    """Split the clip set's shards into at most `tasks` contiguous "START:END" ranges,
    one per parallel distill task (the ParallelFor items)."""
    from geovr.data.shards import ShardReader

    n_shards = len(ShardReader(clips.path).shards())
    n_tasks = max(1, min(tasks, n_shards))
    bounds = [round(i * n_shards / n_tasks) for i in range(n_tasks + 1)]
    return [
        f"{start}:{end}" for start, end in zip(bounds[:-1], bounds[1:], strict=True) if end > start
    ]
