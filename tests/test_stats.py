"""Rate intervals and the chance that a banner variant is best."""

import pytest

from banner.stats import probability_best, rate, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [(10, 100, 0.0552, 0.1744), (0, 50, 0.0, 0.0714), (50, 50, 0.9286, 1.0), (1, 2, 0.0945, 0.9055)],
)
def test_wilson_interval_matches_known_values(successes, trials, low, high):
    got = wilson_interval(successes, trials)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_no_trials_says_nothing_is_known():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_clear_winner_is_almost_surely_best():
    chances = probability_best([(10, 1000), (40, 1000)])
    assert chances[1] > 0.99 and sum(chances) == pytest.approx(1)


def test_equal_arms_split_the_chance():
    chances = probability_best([(30, 1000), (30, 1000), (30, 1000)])
    assert all(abs(chance - 1 / 3) < 0.03 for chance in chances)


def test_probability_best_is_repeatable():
    assert probability_best([(3, 40), (5, 41)]) == probability_best([(3, 40), (5, 41)])


@pytest.mark.parametrize(("successes", "trials"), [(5, 3), (1, 0), (-1, 10), (10, -1)])
def test_inconsistent_counts_give_a_rate_between_0_and_1(successes, trials):
    low, high = wilson_interval(successes, trials)
    assert 0 <= low <= high <= 1
    assert 0 <= rate(successes, trials) <= 1
    assert sum(probability_best([(successes, trials), (1, 10)], draws=100)) == pytest.approx(1)
