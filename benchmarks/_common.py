"""What several benchmarks share: the real-data folder and the torch compute flags."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from cappuccino_runtime.settings import pick_device

__all__ = ["DEFAULT_DATA", "add_compute_args", "add_data_arg", "apply_compute_args"]

DEFAULT_DATA = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "binance_spot_1h_2017-08_2021-12"
)
"""Binance spot 1h bars, 2017-08 .. 2021-12 (/work/shared/data, see its README)."""


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    """--data: the Binance JSON folder the benchmark reads."""
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Binance JSON folder.")


def add_compute_args(parser: argparse.ArgumentParser) -> None:
    """--device and --threads, read back by `apply_compute_args`."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu).")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the tensors are small, and on a shared 2-core "
        "box a second OpenMP thread mostly waits; 0 keeps torch's default).",
    )


def apply_compute_args(args: argparse.Namespace) -> torch.device:
    """Sets torch's thread count from --threads and returns the --device to run on."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return torch.device(pick_device(args.device))
