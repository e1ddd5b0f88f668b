"""CTC likelihoods of candidate texts under a line recognizer's step matrix (ctc.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from edge_agent.vision import ctc


def _collapse(path: tuple[int, ...]) -> list[int]:
    out, previous = [], None
    for k in path:
        if k != previous and k != 0:
            out.append(k)
        previous = k
    return out


def _brute_force(steps: np.ndarray, labels: list[int]) -> float:
    """log P(labels): every path over the steps that collapses to them, summed."""
    total = 0.0
    for path in itertools.product(range(steps.shape[1]), repeat=len(steps)):
        if _collapse(path) == labels:
            total += math.prod(steps[t, k] for t, k in enumerate(path))
    return math.log(total) if total else -math.inf


def test_the_forward_sum_is_the_sum_over_every_alignment():
    rng = np.random.default_rng(3)
    steps = rng.dirichlet(np.ones(4), size=6)  # 6 steps: no plate character (0) and three characters
    logp = np.log(steps)
    for labels in ([1], [1, 2], [2, 2], [1, 2, 3], [3, 1, 3, 1], []):
        assert math.isclose(ctc.log_likelihood(logp, labels), _brute_force(steps, labels), rel_tol=1e-9)
    # Run together, the same numbers.
    texts = [[1], [1, 2], [2, 2], [1, 2, 3], [3, 1, 3, 1], []]
    together = ctc.log_likelihoods(logp, texts)
    assert np.allclose(together, [ctc.log_likelihood(logp, t) for t in texts])


def test_a_text_longer_than_the_steps_is_impossible():
    logp = np.log(np.full((2, 3), 1 / 3))
    assert ctc.log_likelihood(logp, [1, 2, 1]) == -math.inf
    assert ctc.log_likelihoods(logp, [[1, 2, 1], [1]])[0] == -math.inf


def test_each_character_gets_its_surest_step_on_the_best_alignment():
    # Steps: A (0.9), nothing, A (0.6), B (0.8): the text AAB is read A . A B.
    steps = np.array([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    probs = ctc.char_probs(np.log(steps), [1, 1, 2])
    assert np.allclose(probs, [0.9, 0.6, 0.8])
