"""procops config: validate, show, schema, init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, print_json, say, want_json

app = typer.Typer(help="Validate, show and write the configuration file.", no_args_is_help=True)


@app.command()
def validate(
    path: Annotated[Optional[Path], typer.Argument(help="File to validate (default: the discovered config).")] = None,
    json_: JsonOpt = False,
) -> None:
    """Check a config file; every error is reported with file:line and field (exit 2)."""
    from procops import config

    loaded = config.load(path or STATE.config_path)
    found = config.audit_files(loaded)
    for w in found.warnings:
        say(f"warning: {w}", err=True)
    if found.errors:
        raise config.ConfigError(found.errors)
    emit(
        {"ok": True, "source": loaded.source_label, "warnings": found.warnings},
        json_,
        lambda d: say(f"ok: {d['source']} is a valid procops configuration"),
    )


@app.command()
def show(json_: JsonOpt = False) -> None:
    """Print the effective configuration, secrets masked."""
    import yaml

    from procops import config

    loaded = STATE.loaded()
    data = config.masked(loaded.config)
    if want_json(json_):
        print_json({"source": loaded.source_label, "config": data})
    else:
        say(f"# effective configuration from {loaded.source_label}")
        say(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


@app.command()
def schema() -> None:
    """Print the JSON Schema of the config file (for editors)."""
    from procops import config

    print_json(config.schema())


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the sample.")] = Path("procops.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented sample config generated from the schema."""
    from procops import config
    from procops.errors import BadInput
    from procops.home import atomic_write

    if path.exists() and not force:
        raise BadInput(f"{path} already exists (use --force to overwrite it)")
    atomic_write(path, config.sample_yaml(), mode=0o600)
    say(f"wrote {path}")
