"""The config-agreement test: one source for every default (geovr/config, docs/decisions.md
"One config tree"). Each CLI option, KFP component parameter and pipeline parameter either
sets a config field, and then defaults to the preset's value (the CLI: whichever preset is
chosen; the components and the pipeline: `paper`), or is in a short allow-list with a reason.
"""

from __future__ import annotations

import dataclasses
import inspect

import click.testing
import pytest

from components.distill.component import distill, distill_merge, plan_shard_ranges
from components.evaluate.component import evaluate
from components.fetch_data.component import fetch_data
from components.ingest.component import ingest
from components.register.component import register
from components.train.component import train
from geovr.cli._preset import FromPreset, resolved_config
from geovr.cli.distill import distill as distill_command
from geovr.cli.evaluate import evaluate as evaluate_command
from geovr.cli.ingest import ingest as ingest_command
from geovr.cli.registry import register_command
from geovr.cli.train import train as train_command
from geovr.config.presets import EMBEDDED, PAPER, PRESETS, RunConfig
from pipelines.geovr_pipeline import geovr_pipeline
from pipelines.local_run import local_params
from pipelines.parameters import PIPELINE_FIELDS

STAGES = ("fetch", "ingest", "distill", "train", "evaluate", "register")

# Command-line options that set no config field: what one invocation reads, writes or is.
CLI_NOT_CONFIG = {
    "preset": "chooses the preset itself",
    "help": "click's",
    **dict.fromkeys(
        ("data", "out", "clips", "targets", "checkpoint", "metrics"),
        "the paths of this invocation's inputs and output",
    ),
    "shard_range": "one task's slice of the clip set (the pipeline plans it)",
    "teacher_option_pairs": "KEY=VALUE pairs added to distill.teacher_options",
    "nproc": "ranks of this invocation (the pipeline's: train.gpus_per_node or cpu_ranks)",
    "gradient_checkpointing": "an on/off pair over train.gradient_checkpointing's auto",
    "max_questions": "at least 1 when given; absent, evaluate.max_questions (0 = all)",
    "tracking_uri": "the environment's MLflow server ($MLFLOW_TRACKING_URI)",
    "connect_timeout": "this client's retry budget ($GEOVR_REGISTRY_RETRY_S)",
    **dict.fromkeys(
        ("kfp_run_id", "train_run_id", "eval_run_id", "eval_set", "data_dvc_md5", "data_git_rev"),
        "ids and versions of this run, recorded with it",
    ),
    **dict.fromkeys(
        ("resume", "progress", "no_progress", "blind_baseline", "blank_frames"),
        "switches of one invocation: continue, show progress, add a diagnostic",
    ),
}
# KFP component parameters that set no config field.
COMPONENT_NOT_CONFIG = {
    **dict.fromkeys(
        ("data", "clips", "targets", "checkpoint", "metrics", "evaluation", "report", "summary"),
        "artifacts the pipeline wires",
    ),
    "parts": "artifacts the pipeline wires",
    **dict.fromkeys(
        ("data_repo", "data_rev", "target", "dvc_md5", "git_rev", "kfp_run_id", "eval_set"),
        "what data and which run: the pipeline passes them",
    ),
    "shard_range": "one task's slice, from plan_shard_ranges",
    **dict.fromkeys(("cache_dir", "work_dir"), "volumes of a cluster deployment"),
    "tracking_uri": "the environment's MLflow server",
}
COMPONENT_FIELDS = {  # a component parameter named otherwise than its field
    (fetch_data, "dvc_remote"): "fetch.remote",
}
COMPONENT_STAGES = {
    fetch_data: "fetch",
    ingest: "ingest",
    plan_shard_ranges: "distill",
    distill: "distill",
    distill_merge: "distill",
    train: "train",
    evaluate: "evaluate",
    register: "register",
}
PIPELINE_NOT_CONFIG = {
    **dict.fromkeys(("data_repo", "data_rev", "data_target"), "which data: a run's input"),
    "train_work_dir": "a volume of a cluster deployment",
    "tracking_uri": "the environment's MLflow server",
}
COMMANDS = {
    "ingest": ingest_command,
    "distill": distill_command,
    "train": train_command,
    "evaluate": evaluate_command,
    "register": register_command,
}


def field_names(stage: str) -> set[str]:
    return {f.name for f in dataclasses.fields(getattr(PAPER, stage))}


def differing_fields(config: RunConfig) -> set[str]:
    """The paths where `config` departs from its dataclasses' own defaults."""
    paths = set()
    for stage in STAGES:
        stage_config = getattr(config, stage)
        default = type(stage_config)()
        for f in dataclasses.fields(stage_config):
            if getattr(stage_config, f.name) != getattr(default, f.name):
                paths.add(f"{stage}.{f.name}")
    return paths


# ---- command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", COMMANDS)
def test_cli_options_are_preset_fields_or_allow_listed(name):
    command = COMMANDS[name]
    for param in command.params:
        if isinstance(param, FromPreset):
            stage, _, field = param.field.partition(".")
            assert stage == name, f"--{param.name} of geovr {name} sets {param.field}"
            PAPER.get(param.field)  # the field exists
        else:
            assert param.name in CLI_NOT_CONFIG, (
                f"geovr {name} --{param.name}: set its default from a preset field "
                f"(geovr.cli._preset.config_option) or allow-list it with a reason"
            )


@pytest.mark.parametrize("preset_name", PRESETS)
@pytest.mark.parametrize("name", COMMANDS)
def test_cli_without_options_resolves_to_the_preset(name, preset_name):
    """Nothing but --preset on the command line: every stage field is the preset's, including
    the ones the command has no option for."""
    command = COMMANDS[name]
    ctx = command.make_context(name, ["--preset", preset_name], resilient_parsing=True)
    assert getattr(resolved_config(ctx), name) == getattr(PRESETS[preset_name], name)


def test_cli_defaults_follow_the_preset_environment_variable(monkeypatch):
    monkeypatch.setenv("GEOVR_PRESET", "paper")
    ctx = train_command.make_context("train", [], resilient_parsing=True)
    assert resolved_config(ctx).train == PAPER.train
    assert ctx.params["grad_accum"] == 4 and ctx.params["student"] == PAPER.train.student


def test_cli_help_shows_the_chosen_presets_value():
    runner = click.testing.CliRunner()
    embedded = runner.invoke(ingest_command, ["--help"], env={"GEOVR_PRESET": None})
    paper = runner.invoke(ingest_command, ["--preset", "paper", "--help"])
    assert "[default: 128]" in embedded.output and "[default: 504]" in paper.output
    assert "Longest stored side in px" in paper.output  # the field's docstring


def test_an_explicit_option_overrides_the_preset():
    ctx = ingest_command.make_context(
        "ingest", ["--preset", "paper", "--frames", "5"], resilient_parsing=True
    )
    cfg = resolved_config(ctx).ingest
    assert cfg == dataclasses.replace(PAPER.ingest, frames=5)


# ---- KFP components and the pipeline --------------------------------------------------------


def component_fields(component) -> dict[str, str | None]:
    """{parameter: the config path it sets, or None when allow-listed}."""
    stage = COMPONENT_STAGES[component]
    paths = {}
    for name in inspect.signature(component.python_func).parameters:
        if (component, name) in COMPONENT_FIELDS:
            paths[name] = COMPONENT_FIELDS[(component, name)]
        elif name in COMPONENT_NOT_CONFIG:
            paths[name] = None
        else:
            assert name in field_names(stage), (
                f"component {component.name} parameter {name!r}: name a config field for it "
                f"(COMPONENT_FIELDS) or allow-list it with a reason"
            )
            paths[name] = f"{stage}.{name}"
    return paths


@pytest.mark.parametrize("component", COMPONENT_STAGES, ids=lambda c: c.name)
def test_component_defaults_are_the_paper_presets(component):
    """KFP ships only the function's source, so its defaults are literals: they must agree."""
    parameters = inspect.signature(component.python_func).parameters
    for name, path in component_fields(component).items():
        default = parameters[name].default
        if path is None or default is inspect.Parameter.empty:
            continue  # allow-listed, or always passed by the pipeline
        assert default == PAPER.get(path), (
            f"component {component.name} {name}={default!r} but the paper preset's {path} is "
            f"{PAPER.get(path)!r}"
        )


def test_pipeline_parameters_default_to_the_paper_preset():
    parameters = inspect.signature(geovr_pipeline.pipeline_func).parameters
    for name, parameter in parameters.items():
        if name in PIPELINE_NOT_CONFIG:
            continue
        assert name in PIPELINE_FIELDS, (
            f"pipeline parameter {name!r}: map it to a config field (pipelines/parameters.py) "
            f"or allow-list it with a reason"
        )
        assert parameter.default == PAPER.get(PIPELINE_FIELDS[name]), name
    assert set(PIPELINE_FIELDS) <= set(parameters)


def test_the_compiled_pipeline_carries_the_paper_defaults():
    spec = geovr_pipeline.pipeline_spec.root.input_definitions.parameters
    assert spec["grad_accum"].default_value.number_value == PAPER.train.grad_accum == 4
    assert spec["sampling"].default_value.string_value == PAPER.ingest.sampling == "fps"


def test_a_local_run_takes_the_embedded_preset(tmp_path):
    params = local_params(tmp_path, "abc123")
    for name, path in PIPELINE_FIELDS.items():
        assert params[name] == EMBEDDED.get(path), name


@pytest.mark.parametrize("config", [PAPER, EMBEDDED], ids=lambda c: c.name)
def test_every_preset_setting_reaches_the_pipeline(config):
    """A preset value the pipeline cannot pass on would be silently replaced, in the
    components, by the dataclass default."""
    unreachable = differing_fields(config) - set(PIPELINE_FIELDS.values())
    assert not unreachable, f"{config.name} sets {sorted(unreachable)}, no pipeline parameter does"
