"""Book identity, per-increment fill pricing and broker-posted fees.

- portfolios.book_token: a random id generated when the book is first opened; every
  client_order_id of the book derives from it, so two deployments whose portfolio ids collide
  (two folders named `ensemble` on one paper account) can never share or adopt orders.
- orders.filled_notional: the quote value of the fills recorded so far, so the next increment
  of a partially filled order is priced from the broker's cumulative average exactly.
- fees: fees the broker posted later (Alpaca CFEE activities), booked once per (activity, book).
- portfolios.venue: where the book's orders go ("broker" or "local"), fixed when the book is
  opened; a book never changes venue.
- arena_rankings.psr / sharpe_se / n_returns: the ranking's PSR, the Sharpe's standard error
  and the number of returns it rests on.

Revision ID: 0002_book_identity_fees
Revises: 0001_initial
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op
from cappuccino_contracts.tables import Money, UTCDateTime

revision = "0002_book_identity_fees"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portfolios") as batch:
        batch.add_column(sa.Column("book_token", sa.String(32), nullable=True))
        batch.add_column(sa.Column("venue", sa.String(16), nullable=True))
    with op.batch_alter_table("arena_rankings") as batch:
        batch.add_column(sa.Column("psr", sa.Float(), nullable=True))
        batch.add_column(sa.Column("sharpe_se", sa.Float(), nullable=True))
        batch.add_column(sa.Column("n_returns", sa.Integer(), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("filled_notional", Money, nullable=True))
    op.create_table(
        "fees",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fee_key", sa.String(200), nullable=False),
        sa.Column("portfolio_id", sa.String(255), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=True),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_id"],
            ["portfolios.portfolio_id"],
            name="fk_fees_portfolio_id_portfolios",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_fees"),
        sa.UniqueConstraint("fee_key", name="uq_fees_fee_key"),
    )
    op.create_index("ix_fees_portfolio_id", "fees", ["portfolio_id"])
    connection = op.get_bind()
    portfolios = sa.table("portfolios", sa.column("portfolio_id"), sa.column("book_token"))
    for (pid,) in connection.execute(sa.select(portfolios.c.portfolio_id)).all():
        connection.execute(
            portfolios.update()
            .where(portfolios.c.portfolio_id == pid)
            .values(book_token=uuid.uuid4().hex[:12])
        )


def downgrade() -> None:
    op.drop_table("fees")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("filled_notional")
    with op.batch_alter_table("arena_rankings") as batch:
        for column in ("n_returns", "sharpe_se", "psr"):
            batch.drop_column(column)
    with op.batch_alter_table("portfolios") as batch:
        batch.drop_column("venue")
        batch.drop_column("book_token")
