"""Readiness steps of procops.loadtests (registered with procops.readiness.step, run in import order)."""
