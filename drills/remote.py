"""Fault injectors for real hosts, agentless over SSH with Fabric (placeholder until they land)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from procops.drills.injectors import NotBuilt

if TYPE_CHECKING:
    from procops.config import Config
    from procops.drills.injectors import Injector
    from procops.drills.scenario import Scenario


def for_scenario(config: Config, scenario: Scenario, workdir: Path) -> Injector:
    return NotBuilt(config, {**scenario.fault.params, "_action": scenario.fault.action}, workdir)
