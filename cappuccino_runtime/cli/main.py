"""`cappuccino` console script: one Typer app; each domain registers its own commands.

Domain modules import heavy libraries (torch, optuna) inside their command functions so that
`cappuccino --help` and init containers start fast.
"""

from __future__ import annotations

import sys

import typer

from cappuccino_runtime.cli import dashboard, registry, trading, training
from cappuccino_runtime.errors import CappuccinoError, ConfigError
from cappuccino_runtime.podlife import install_sigterm_handler, write_termination_message

__all__ = ["app", "main"]

app = typer.Typer(
    name="cappuccino",
    help="Train, validate and paper-trade PPO crypto-trading agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _domain in (training, registry, trading, dashboard):
    _domain.register(app)


def main(argv: list[str] | None = None) -> None:
    """Runs the CLI; our errors become one clear line on stderr and an exit code (2 = bad input)."""
    install_sigterm_handler()  # in a pod this process is PID 1: stop promptly on SIGTERM
    try:
        app(args=argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        write_termination_message(str(e))
        raise SystemExit(2) from None
    except CappuccinoError as e:
        print(f"error: {e}", file=sys.stderr)
        write_termination_message(str(e))
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
