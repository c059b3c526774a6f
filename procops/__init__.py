"""procops: reliability and operations toolkit for a procurement platform.

The import namespace ``procops`` maps onto the repository's top-level folders
(``procops.cli`` = ``cli/``, ``procops.backup`` = ``backup/``, ...); see
``pyproject.toml``. Nothing heavy is imported here: ``procops --help`` stays fast.
"""

__version__ = "0.1.0"
