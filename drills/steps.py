"""Readiness steps of procops.drills (registered with procops.readiness.step, run in import order)."""
