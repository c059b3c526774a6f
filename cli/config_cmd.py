"""procops config: validate, show, schema, init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from procops.cli.common import STATE, JsonOpt, emit, print_json, say, want_json

from procops.i18n import _

app = typer.Typer(help=_("Validate, show and write the configuration file."), no_args_is_help=True)


@app.command(help=_("Check a config file; every error is reported with file:line and field (exit 2)."))
def validate(
    path: Annotated[
        Optional[Path], typer.Argument(help=_("File to validate (default: the discovered config)."))
    ] = None,
    json_: JsonOpt = False,
) -> None:
    from procops import config

    loaded = config.load(path or STATE.config_path)
    found = config.audit_files(loaded)
    for w in found.warnings:
        say(_("warning: {w}").format(w=w), err=True)
    if found.errors:
        raise config.ConfigError(found.errors)
    emit(
        {"ok": True, "source": loaded.source_label, "warnings": found.warnings},
        json_,
        lambda d: say(_("ok: {source} is a valid procops configuration").format(source=d["source"])),
    )


@app.command(help=_("Print the effective configuration, secrets masked."))
def show(json_: JsonOpt = False) -> None:
    import yaml

    from procops import config

    loaded = STATE.loaded()
    data = config.masked(loaded.config)
    if want_json(json_):
        print_json({"source": loaded.source_label, "config": data})
    else:
        say(_("# effective configuration from {source_label}").format(source_label=loaded.source_label))
        say(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


@app.command(help=_("Print the JSON Schema of the config file (for editors)."))
def schema() -> None:
    from procops import config

    print_json(config.schema())


@app.command(help=_("Write a commented sample config generated from the schema."))
def init(
    path: Annotated[Path, typer.Argument(help=_("Where to write the sample."))] = Path("procops.yaml"),
    force: Annotated[bool, typer.Option("--force", help=_("Overwrite an existing file."))] = False,
) -> None:
    from procops import config
    from procops.errors import BadInput
    from procops.home import atomic_write

    if path.exists() and not force:
        raise BadInput(_("{path} already exists (use --force to overwrite it)").format(path=path))
    atomic_write(path, config.sample_yaml(), mode=0o600)
    say(_("wrote {path}").format(path=path))
