"""procops_* metrics for Prometheus: one fresh registry per batch job, atomic textfiles.

Batch commands (backup run, loadtest, drill ...) build a registry with
:func:`new_registry`, set their gauges, and call :func:`write_textfile`, which
writes ``<monitoring.textfile_dir>/<job>.prom`` (default
``$PROCOPS_HOME/textfile``; node_exporter's textfile collector format) through a temporary file and a rename. A last-success
timestamp is set only when the job succeeded. Writing metrics never fails the
job: errors become a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from procops.config import Config

log = logging.getLogger(__name__)


_configured: Path | None = None  # monitoring.textfile_dir of the config this process runs with


def configure(config: Config) -> None:
    """Use ``config.monitoring.textfile_dir`` for every textfile this process writes."""
    global _configured
    d = config.monitoring.textfile_dir
    _configured = d.expanduser() if d is not None else None


def textfile_dir(config: Config | None = None) -> Path:
    """``monitoring.textfile_dir`` (of ``config``, else of :func:`configure`'s), or ``$PROCOPS_HOME/textfile``."""
    from procops.home import area_dir

    d = config.monitoring.textfile_dir if config is not None else _configured
    if d is not None:
        d = d.expanduser()
        d.mkdir(parents=True, exist_ok=True)
        return d
    return area_dir("textfile")


def new_registry() -> CollectorRegistry:
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


def write_textfile(job: str, registry: CollectorRegistry, directory: Path | None = None) -> Path | None:
    """Write the registry to ``<dir>/<job>.prom`` atomically; never raises."""
    from prometheus_client import generate_latest

    from procops.home import atomic_write

    try:
        path = (directory or textfile_dir()) / f"{job}.prom"
        atomic_write(path, generate_latest(registry))
        return path
    except Exception as e:  # noqa: BLE001 - metrics never fail the main job
        log.warning("could not write metrics textfile for %s: %s", job, e)
        return None
