"""Readiness steps of procops.release (registered with procops.readiness.step, run in import order)."""
