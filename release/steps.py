"""Readiness steps of procops.release, in the order they run (:data:`STEPS`, read through
``procops.release.api.readiness_steps``): none yet (the canary release step lands with the gray-release issue)."""

from __future__ import annotations

from procops.readiness import Step

STEPS: tuple[Step, ...] = ()
