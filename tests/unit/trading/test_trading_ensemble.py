"""Ensemble vote on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from cappuccino_runtime.trading.ensemble import Side, mean_action_target, vote_targets


def test_majority_buy_executes_mean_of_buyers() -> None:
    # current 0.2, dead band 0.05: 0.4 and 0.3 buy, 0.22 holds, 0.1 sells, 0.5 buys -> 3 buy.
    result = vote_targets([[0.4], [0.3], [0.22], [0.1], [0.5]], [0.2], dead_band=0.05)
    assert result.sides == [Side.BUY]
    assert result.votes == [{Side.BUY: 3, Side.SELL: 1, Side.HOLD: 1}]
    assert result.target[0] == pytest.approx((0.4 + 0.3 + 0.5) / 3)


def test_majority_sell_and_hold_per_asset() -> None:
    # asset 0 (current 0.5): 0.1, 0.2 sell, 0.52 holds -> sell, target mean(0.1, 0.2) = 0.15
    # asset 1 (current 0.1): 0.1, 0.11 hold, 0.3 buys -> hold, target stays 0.1
    result = vote_targets([[0.1, 0.1], [0.2, 0.11], [0.52, 0.3]], [0.5, 0.1], dead_band=0.05)
    assert result.sides == [Side.SELL, Side.HOLD]
    assert result.target == pytest.approx([0.15, 0.1])


def test_tie_holds() -> None:
    # one buy, one sell, no hold: a tie is no consensus, the asset keeps its weight.
    result = vote_targets([[0.9], [0.0]], [0.3], dead_band=0.01)
    assert result.sides == [Side.HOLD]
    assert result.target == [0.3]
    # two buy vs two hold: a tie as well.
    result = vote_targets([[0.9], [0.8], [0.3], [0.3]], [0.3], dead_band=0.01)
    assert result.sides == [Side.HOLD]


def test_winning_targets_above_one_are_scaled_to_one() -> None:
    # both assets win BUY with means 0.8 and 0.6 -> sum 1.4 -> scaled by 1/1.4
    result = vote_targets([[0.8, 0.6], [0.8, 0.6]], [0.0, 0.0], dead_band=0.01)
    assert result.target == pytest.approx([0.8 / 1.4, 0.6 / 1.4])
    assert math.fsum(result.target) == pytest.approx(1.0)


def test_mean_action_rule_maps_the_mean_action_like_the_env() -> None:
    # mean action [0, 0] keeps the book: from cash that is equal weights (ref 0.5 each, floored)
    from cappuccino_runtime.env.actions import FLOOR, action_to_weights

    target = mean_action_target(torch.tensor([[1.0, -2.0], [-1.0, 2.0]]), torch.zeros(2))
    assert target == pytest.approx([(0.5 + FLOOR) / (1 + 3 * FLOOR)] * 2)
    book = torch.tensor([0.7, 0.1], dtype=torch.float64)
    actions = torch.tensor([[1.0, -2.0], [0.0, 1.0]])
    expected = action_to_weights(torch.tensor([[0.5, -0.5]]), book[None], torch.float64)
    assert mean_action_target(actions, book) == pytest.approx(expected[0].tolist())


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\[N, A\]"):
        vote_targets([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError, match="dead_band"):
        vote_targets([[0.1]], [0.1], dead_band=-1)
