"""The gray release's public API: the only module other areas and ``cli/`` import.

Nothing has landed yet beyond the area itself (plan, controller, gates, pilot routing and
persisted state come with the gray-release issue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procops.readiness import Step


def readiness_steps() -> list[Step]:
    """The release's readiness steps, in order (:data:`procops.release.steps.STEPS`)."""
    from procops.release import steps

    return list(steps.STEPS)
