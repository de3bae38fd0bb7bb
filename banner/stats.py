"""Statistics for banner tests: rate intervals and the chance that each variant is best."""

import math
import random


def rate(successes: int, trials: int) -> float:
    """Return successes per trial, 0 when there are no trials, never above 1."""
    return _consistent(successes, trials) / trials if trials > 0 else 0.0


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Return the 95% Wilson score interval of a rate; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    rate = _consistent(successes, trials) / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def probability_best(arms: list[tuple[int, int]], draws: int = 20_000, seed: int = 7) -> list[float]:
    """Return, for each (successes, trials) arm, the posterior probability that its rate is the
    highest, under independent Beta(1 + successes, 1 + failures) posteriors, by simulation."""
    if not arms:
        return []
    rng = random.Random(seed)
    wins = [0] * len(arms)
    for _ in range(draws):
        samples = [rng.betavariate(1 + max(0, s), 1 + max(0, n - s)) for s, n in arms]
        wins[samples.index(max(samples))] += 1
    return [count / draws for count in wins]


def _consistent(successes: int, trials: int) -> int:
    """Read counts that disagree (more clicks than impressions: lost or forged beacons) as all
    trials succeeding, so that a rate stays a rate."""
    return min(max(successes, 0), trials)
