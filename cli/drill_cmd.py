"""procops drill: Quarterly emergency drills (R8)."""

from procops.cli.common import stub_group

app = stub_group(
    "drill",
    "Quarterly emergency drills (R8).",
    {
        "list": "List drill scenarios.",
        "run": "Run a drill scenario.",
        "status": "Last drill per scenario and whether the quarter is covered.",
    },
)
