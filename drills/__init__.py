"""procops.incidents: quarterly emergency drills (R8)."""
