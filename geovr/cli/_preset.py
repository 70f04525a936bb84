"""Stage options whose defaults come from a named preset (geovr/config/presets.py).

    @preset_option
    @config_option("--frames", field="ingest.frames", type=int)
    def ingest(preset, frames, ...):
        cfg = resolved_config().ingest           # the preset with the given options applied

`--preset` (or $GEOVR_PRESET) picks the preset; an option left out takes that preset's value,
which `--help` shows (`geovr ingest --preset paper --help`); an option given overrides it.
The help text is the field's docstring unless the option brings its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

from geovr.config.fields import field_docs
from geovr.config.presets import DEFAULT_PRESET, PRESET_ENV, PRESETS, RunConfig, preset, with_values


def preset_name(ctx: click.Context) -> str:
    """The preset of this invocation: --preset, else $GEOVR_PRESET, else the default."""
    return ctx.params.get("preset") or os.environ.get(PRESET_ENV) or DEFAULT_PRESET


class FromPreset(click.Option):
    """An option defaulting to the value of config field `field` in the invocation's preset."""

    def __init__(self, param_decls: Sequence[str], *, field: str, **attrs: Any) -> None:
        if "default" in attrs:
            raise TypeError(f"{param_decls}: the default comes from the preset's {field}")
        self.field = field
        stage_path, _, name = field.rpartition(".")
        attrs.setdefault("help", field_docs(type(preset(DEFAULT_PRESET).get(stage_path)))[name])
        super().__init__(param_decls, show_default=True, **attrs)

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        return preset(preset_name(ctx)).get(self.field)


def config_option(*decls: str, field: str, **attrs: Any):
    return click.option(*decls, cls=FromPreset, field=field, **attrs)


preset_option = click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    envvar=PRESET_ENV,
    default=DEFAULT_PRESET,
    show_default=True,
    is_eager=True,  # parsed first, so the other options' defaults can come from it
    help=f"named configuration the other options default to (${PRESET_ENV})",
)


def resolved_config(ctx: click.Context | None = None) -> RunConfig:
    """The invocation's preset with every preset-backed option's value put in its field."""
    ctx = ctx or click.get_current_context()
    values = {
        param.field: ctx.params[param.name]
        for param in ctx.command.params
        if isinstance(param, FromPreset)
    }
    try:
        return with_values(preset(preset_name(ctx)), values)
    except ValueError as e:  # a check across options (each option alone is checked by click)
        raise click.UsageError(str(e), ctx) from None
