"""The drills' public API: the only module other areas and ``cli/`` import.

Nothing has landed yet beyond the area itself (drill scenarios, injectors and the drill
lifecycle come with the drill issue); the readiness drill step will be declared here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procops.readiness import Step


def readiness_steps() -> list[Step]:
    """The drills' readiness steps (none yet)."""
    return []
