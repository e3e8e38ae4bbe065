"""Initial trading schema: portfolios, positions, orders, fills, snapshots, arena rankings.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from cappuccino_contracts.tables import Money, UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portfolios",
        sa.Column("portfolio_id", sa.String(255), nullable=False),
        sa.Column("initial_cash", Money, nullable=False),
        sa.Column("cash", Money, nullable=False),
        sa.Column("halted_reason", sa.String(1000), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("portfolio_id", name="pk_portfolios"),
    )
    op.create_table(
        "positions",
        sa.Column("portfolio_id", sa.String(255), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("qty", Money, nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.portfolio_id"],
            name="fk_positions_portfolio_id_portfolios",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("portfolio_id", "symbol", name="pk_positions"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("portfolio_id", sa.String(255), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", Money, nullable=True),
        sa.Column("notional", Money, nullable=True),
        sa.Column("ref_price", Money, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("broker_order_id", sa.String(64), nullable=True),
        sa.Column("filled_qty", Money, nullable=False),
        sa.Column("decision_ts", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.portfolio_id"],
            name="fk_orders_portfolio_id_portfolios",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("client_order_id", name="uq_orders_client_order_id"),
    )
    op.create_index("ix_orders_portfolio_status", "orders", ["portfolio_id", "status"])
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fill_key", sa.String(160), nullable=False),
        sa.Column("client_order_id", sa.String(128), nullable=False),
        sa.Column("portfolio_id", sa.String(255), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", Money, nullable=False),
        sa.Column("price", Money, nullable=False),
        sa.Column("fee", Money, nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["orders.client_order_id"],
            name="fk_fills_client_order_id_orders",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_fills"),
        sa.UniqueConstraint("fill_key", name="uq_fills_fill_key"),
    )
    op.create_index("ix_fills_client_order_id", "fills", ["client_order_id"])
    op.create_index("ix_fills_portfolio_id", "fills", ["portfolio_id"])
    op.create_table(
        "portfolio_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("portfolio_id", sa.String(255), nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("equity", Money, nullable=False),
        sa.Column("cash", Money, nullable=False),
        sa.Column("positions_value", Money, nullable=False),
        sa.Column("halted_reason", sa.String(1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_portfolio_snapshots"),
        sa.UniqueConstraint("portfolio_id", "ts", name="uq_portfolio_snapshots_portfolio_id_ts"),
    )
    op.create_index(
        "ix_portfolio_snapshots_portfolio_ts", "portfolio_snapshots", ["portfolio_id", "ts"]
    )
    op.create_table(
        "arena_rankings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arena_id", sa.String(255), nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("portfolio_id", sa.String(255), nullable=False),
        sa.Column("study_name", sa.String(255), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("sharpe", sa.Float(), nullable=True),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_arena_rankings"),
        sa.UniqueConstraint(
            "arena_id", "ts", "portfolio_id", name="uq_arena_rankings_arena_id_ts_portfolio_id"
        ),
    )
    op.create_index("ix_arena_rankings_arena_ts", "arena_rankings", ["arena_id", "ts"])


def downgrade() -> None:
    for table in ("arena_rankings", "portfolio_snapshots", "fills", "orders", "positions"):
        op.drop_table(table)
    op.drop_table("portfolios")
