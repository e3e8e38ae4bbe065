"""`cappuccino` console script: one Typer app; each domain registers its own commands.

Domain modules import heavy libraries (torch, optuna) inside their command functions so that
`cappuccino --help` and init containers start fast.
"""

from __future__ import annotations

import sys
import traceback

import typer

from cappuccino_runtime.cli import dashboard, registry, trading, training
from cappuccino_runtime.errors import CappuccinoError, ConfigError, DataQualityError
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


BUG_NOTE = (
    "This is a bug in cappuccino, not a problem with your input. Please report it with the "
    "command you ran and the traceback above."
)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _is_bad_url(e: BaseException) -> bool:
    """SQLAlchemy's errors for an unknown scheme or a malformed URL are user errors."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    return isinstance(e, ArgumentError | NoSuchModuleError)


def _fail(line: str) -> None:
    """Prints the one-line reason and, in a pod, leaves it as the termination message."""
    print(line, file=sys.stderr)
    write_termination_message(line.removeprefix("error: "))


def main(argv: list[str] | None = None) -> None:
    """Runs the CLI behind one error boundary.

    - user errors (ConfigError, invalid settings, unreadable input files, bad flags): one line
      on stderr saying what is wrong and how to fix it, exit 2;
    - operational errors (a broker, database or data source failing, a validation that did not
      pass): one line, exit 1;
    - anything else is a bug: the traceback and a note asking to report it, exit 1.
    """
    from pydantic import ValidationError

    install_sigterm_handler()  # in a pod this process is PID 1: stop promptly on SIGTERM
    try:
        app(args=argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except (ConfigError, DataQualityError) as e:
        _fail(f"error: {_one_line(e)}")
        raise SystemExit(2) from None
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in e.errors()[:5]
        )
        _fail(f"error: invalid {e.title}: {problems}")
        raise SystemExit(2) from None
    except CappuccinoError as e:
        _fail(f"error: {_one_line(e)}")
        raise SystemExit(1) from None
    except Exception as e:
        if _is_bad_url(e):
            print(
                f"error: a database URL is not usable ({_one_line(e)}); give an SQLAlchemy URL "
                "such as sqlite:///file.db or postgresql+psycopg://user:pass@host:5432/db.",
                file=sys.stderr,
            )
            raise SystemExit(2) from None
        traceback.print_exc()
        print(f"\n{BUG_NOTE}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
