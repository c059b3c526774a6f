"""Readiness steps of procops.monitoring (registered with procops.readiness.step, run in import order)."""
