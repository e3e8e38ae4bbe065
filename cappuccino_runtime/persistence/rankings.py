"""Aggregate: arena rankings (rows of the newest ts per arena_id are the current ranking)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cappuccino_runtime.persistence.base import Base, UTCDateTime

__all__ = ["ArenaRankingRow"]


class ArenaRankingRow(Base):
    """`arena_rankings(arena_id, ts, portfolio_id, study_name, trial_id, rank, sharpe, promoted)`.

    sharpe is a ratio, not money, so it is a Float; NULL while a member has too few snapshots.
    """

    __tablename__ = "arena_rankings"
    __table_args__ = (
        UniqueConstraint("arena_id", "ts", "portfolio_id"),
        Index("ix_arena_rankings_arena_ts", "arena_id", "ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    arena_id: Mapped[str] = mapped_column(String(255))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    portfolio_id: Mapped[str] = mapped_column(String(255))
    study_name: Mapped[str] = mapped_column(String(255))
    trial_id: Mapped[int]
    rank: Mapped[int]
    sharpe: Mapped[float | None] = mapped_column(Float)
    promoted: Mapped[bool]
    psr: Mapped[float | None] = mapped_column(Float, default=None)
    sharpe_se: Mapped[float | None] = mapped_column(Float, default=None)
    n_returns: Mapped[int | None] = mapped_column(default=None)
