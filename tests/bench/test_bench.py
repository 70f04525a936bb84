"""Smoke tests of the benchmarks: each runs with its smallest arguments and writes a complete,
finite result. No time or ratio threshold is asserted (that is what bench/README.md is for)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bench import ablation, data_path, distributed, flops, gpu, overhead, throughput
from bench.common import ROOT
from bench.pipeline import library_seconds, stage_walls, task_count

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One results folder for the smoke runs: they share the benchmark data cached in it."""
    return tmp_path_factory.mktemp("bench")


def _finite_positive(*values: float) -> bool:
    return all(isinstance(v, float | int) and math.isfinite(v) and v > 0 for v in values)


def test_overhead_quick(results):
    result = overhead.main(["--quick", "--results", str(results)])
    train, inference = result["train_tiny"], result["inference"]
    assert _finite_positive(train["ratio"], *train["median_s"].values(), inference["ratio"])
    assert {"student_forward", "heads_and_losses", "backward", "optimizer"} <= set(
        train["profile_s"]
    )
    assert train["params"]["new_total"] > 0


def test_flops_quick(results):
    tiny = flops.main(["--quick", "--results", str(results)])["tiny"]
    assert _finite_positive(*tiny["tflops"].values())
    assert tiny["ratio"] > 1  # the heads and their losses only ever add work


def test_data_path_quick(results):
    result = data_path.main(["--quick", "--results", str(results)])
    decode = result["decode"]
    assert _finite_positive(
        result["loader_vs_step"]["ratio"],
        decode["all_frames_rgb"]["fps_ratio"],
        decode["ingest_sampled_rgb"]["fps_ratio"],
    )
    assert 0 < result["feature_cache"]["ratio"] <= 1


def test_distributed_quick(results):
    result = distributed.main(["--quick", "--results", str(results)])
    assert _finite_positive(result["samples_ratio_2_over_1"], result["tokens_ratio_2_over_1"])


def test_throughput_quick(tmp_path):
    result = throughput.main(["--quick", "--results", str(tmp_path)])
    sides = [result[name] for name in ("padded", "grouped_1", "grouped_2", "packed")]
    for side in sides:
        assert _finite_positive(side["real_tokens_per_s"], side["step_s_median"])
        assert 0 <= side["padded_token_fraction"] < 1
    assert len({side["real_tokens"] for side in sides}) == 1  # the same samples on every side
    assert result["packed"]["padded_token_fraction"] == 0  # one sequence a batch: no padding
    assert len(result["frames_per_clip"]) > 1  # clips of different lengths in one set
    assert _finite_positive(*result["tokens_per_s_ratio_over_padded"].values())
    assert (tmp_path / "throughput-quick.json").exists()


def test_ablation_quick(results):
    result = ablation.main(["--quick", "--blank-frames", "--results", str(results)])
    kept = results / "ablation-quick-predictions"
    assert sorted(p.name for p in kept.iterdir()) == ["geovr-seed0.jsonl", "sft-seed0.jsonl"]
    answers = [json.loads(line) for line in (kept / "sft-seed0.jsonl").read_text().splitlines()]
    assert sum(result["runs"]["sft"][0]["questions_per_task"].values()) == len(answers)
    assert set(result["vsi_overall"]) == {"sft", "geovr"}
    assert result["probes"]["sft"] == {} and "depth_absrel" in result["probes"]["geovr"]
    assert math.isfinite(result["geovr_minus_sft"])
    for name, blank in result["blank_frames"].items():
        gain = result["vsi_overall"][name]["mean"] - blank["vsi_overall"]["mean"]
        assert blank["vision_gain"]["mean"] == pytest.approx(gain)
    rows = ablation.table(result).splitlines()
    assert len(rows) == 6 and rows[2].startswith("| sft |") and rows[4].startswith("| geovr |")
    assert rows[3].startswith("| sft, blank frames |")


def test_names_come_first_and_options_go_to_each_benchmark():
    from bench.__main__ import ON_ANY_MACHINE, split_args

    assert split_args(["ablation", "--steps", "1000", "--tag", "x"]) == (
        ["ablation"],
        ["--steps", "1000", "--tag", "x"],
    )
    assert split_args(["--quick"]) == (list(ON_ANY_MACHINE), ["--quick"])
    assert split_args(["gpu"]) == (["gpu"], [])
    with pytest.raises(SystemExit, match="unknown"):
        split_args(["ablaton"])


def test_pipeline_log_parsing():
    log = "\n".join(
        [
            "00:16:10.035 - INFO - Executing task 'fetch-data'",
            "00:16:11.629 - INFO - Task 'fetch-data' finished with status SUCCESS",
            # parallel tasks' lines can run into each other
            "00:16:12.620 - INFO - Executing task 'distill'"
            "00:16:12.622 - INFO - Executing task 'distill'",
            '    {"stage": "distill", "seconds": 1.5}',
            '    {"stage": "distill", "seconds": 1.0}',
            "00:16:15.722 - INFO - Task 'distill' finished with status SUCCESS",
            "00:16:15.900 - INFO - Task 'distill' finished with status SUCCESS",
        ]
    )
    assert stage_walls(log) == {"fetch-data": 1.59, "distill": 3.28}
    assert library_seconds(log) == 2.5
    assert task_count(log) == 3


def test_in_process_baseline_runs_every_pipeline_component_with_pipeline_parameters():
    """The orchestration share's baseline must do the pipeline's work, all of it: a stage or
    parameter added to the pipeline and missed here fails this test."""
    import inspect
    import re

    import yaml

    from bench import in_process

    spec = next(yaml.safe_load_all((ROOT / "pipelines" / "geovr_pipeline.yaml").read_text()))
    # control-flow groups are not stages; `train-2` is the train component's second task
    # (the TrainJob branch of dsl.If/Else)
    stages = {
        re.sub(r"-\d+$", "", name.removeprefix("comp-"))
        for name in spec["components"]
        if not re.match(r"comp-(for-loop|condition)", name)
    }
    source = inspect.getsource(in_process.run_stages)
    called = {name.replace("_", "-") for name in re.findall(r"(\w+)\.python_func", source)}
    assert called == stages
    params = in_process.pipeline_params({"data_repo": ".", "tracking_uri": ""})
    assert set(re.findall(r'p\["(\w+)"\]', source)) <= set(params)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_gpu_benchmark_says_it_needs_cuda():
    with pytest.raises(SystemExit, match="needs a CUDA device"):
        gpu.main(["--quick"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_quick(results):
    result = gpu.main(["--quick", "--results", str(results)])
    train = result["train_tiny"]
    assert _finite_positive(result["bf16_matmul_tflops"], train["ratio"], *train["mfu"].values())
    assert train["flop_ratio"] > 1
    for parallelism in ("ddp", "fsdp2"):
        run = result[f"trainer_{parallelism}"]
        assert _finite_positive(run["tokens_per_s"], run["gpu_peak_memory_gib"])
        assert {"config.json", "geovr_heads.safetensors", "meta.json"} <= set(
            run["checkpoint_files"]
        )
