"""Readiness steps of procops.backup (registered with procops.readiness.step, run in import order)."""
