"""Masking of secrets inside text: the one function every output path uses.

:func:`mask_text` hides the password of every URL in a string, whatever the
scheme and however restic spells it (``rest:http://user:pass@host/``,
``rest:https://...``, ``sftp://user:pass@host/path``, ``s3:https://key:secret@host/bucket``,
``postgresql://user:pass@host/db``, ``mysql+pymysql://...``), and ``key=value``
secrets of connection strings (``password=...`` in a libpq DSN or a query
string, ``pass=...`` in an rclone connection string). The CLI's output and
errors, the journal's scrub, argv/env logging and ``config show`` all call it,
so a new producer cannot leak a URL password by forgetting a copy.

Pure: no I/O, stdlib only (core modules import it at module level).
"""

from __future__ import annotations

import re

MASK = "********"

# user (may be empty) ':' password '@' — the password runs up to the last '@' before
# the path (an unencoded '@' inside a password still ends masked).
_URL_PASS = re.compile(r"(://[^:/@\s\"']*:)([^/\s\"']*)(@)")
_KV_SECRET = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(password|passwd|pass|pwd|secret|secret_access_key|token)=([^\s,;&'\"]+)"
)


def mask_text(text: str) -> str:
    """``text`` with URL passwords and ``password=...`` style values replaced by ``********``."""
    if not text:
        return text
    out = _URL_PASS.sub(lambda m: m.group(1) + (MASK if m.group(2) else "") + m.group(3), text)
    return _KV_SECRET.sub(lambda m: f"{m.group(1)}={MASK}", out)


def mask_data(value: object) -> object:
    """``value`` (JSON-like data: dicts, lists, strings) with :func:`mask_text` applied to every string."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v) for v in value]
    return value
