"""procops.drills: quarterly emergency drills (R8)."""
