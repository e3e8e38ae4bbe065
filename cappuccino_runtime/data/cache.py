"""Parquet cache of loaded market data, keyed by source, symbols, timeframe and range.

A cache file holds the aligned long-form bars plus the data-quality report in the Parquet
schema metadata, so a cache hit returns exactly what the original load returned. Writes are
atomic (temp file, then rename).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cappuccino_runtime.atomic import open_atomic
from cappuccino_runtime.data.market import MarketData
from cappuccino_runtime.data.quality import DataQualityReport

__all__ = ["CACHE_FORMAT_VERSION", "cache_key", "read_cache", "write_cache"]

CACHE_FORMAT_VERSION = 1
_META_KEY = b"cappuccino.market_data"


def cache_key(**parts: object) -> str:
    """Stable hex key of the request (order-independent over keyword names)."""
    payload = json.dumps({"v": CACHE_FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def read_cache(path: Path) -> MarketData | None:
    """The cached data at `path`, or None when absent or unreadable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[_META_KEY])
        data = MarketData.from_frame(
            table.to_pandas(),
            timeframe=meta["timeframe"],
            report=DataQualityReport.model_validate(meta["report"]),
        )
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    if data.content_hash() != meta.get("content_hash"):
        return None
    return data


def write_cache(path: Path, data: MarketData) -> None:
    """Writes `data` atomically to `path` (parent directories are created).

    Workers sharing a cache directory (a PVC) may write the same key at once: each writes its
    own temp file and the last rename wins; both contents are identical.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(data.to_frame(), preserve_index=False)
    meta = {
        "timeframe": data.timeframe,
        "content_hash": data.content_hash(),
        "report": data.report.model_dump(mode="json"),
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta)}
    )
    with open_atomic(path) as fh:
        pq.write_table(table, fh)
