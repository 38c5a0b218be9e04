"""A figure's rows as CSV (RFC 4180, UTF-8, comma-separated, a header line), safe to open in a spreadsheet: a text
cell that starts like a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``."""

from __future__ import annotations

import csv
import io
from typing import Any, Dict, List

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: List[Dict[str, Any]], columns: List[str]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([cell(r.get(c)) for c in columns])
    return out.getvalue()
