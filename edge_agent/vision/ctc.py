"""How likely a line recognizer's CTC output makes a given text.

PP-OCR's and EasyOCR's recognizers give, for each time step across a row,
a probability over the characters and a blank. Greedy decoding keeps one
text; to weigh that text against another reader's (consensus.py), each
candidate text is scored under the whole matrix: the sum over every
alignment of it (repeats merged, blanks between), the CTC likelihood.

The matrices here are `TextLine.steps`: column 0 is "no plate character"
(the blank, a space, punctuation, an emblem the model read as a symbol:
whatever is not in a registration), columns 1.. the plate characters.
"""

from __future__ import annotations

import numpy as np

# No step gives a character exactly zero: log(0) would let one pixel of
# doubt veto a text the other reader is sure of.
FLOOR = 1e-6


def log_steps(steps: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(steps, FLOOR))


def _extended(labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The label sequence with blanks around each label, and where a step may skip a blank."""
    ext = np.zeros(2 * len(labels) + 1, np.int64)
    ext[1::2] = labels
    skip = np.zeros(len(ext), bool)
    skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    return ext, skip


def log_likelihood(logp: np.ndarray, labels: list[int]) -> float:
    """log P(labels | logp): CTC's forward sum over all alignments (labels are column numbers, 1..)."""
    if not labels:
        return float(logp[:, 0].sum())
    if len(logp) < len(labels):
        return -np.inf
    ext, skip = _extended(labels)
    alpha = np.full(len(ext), -np.inf)
    alpha[0], alpha[1] = logp[0, 0], logp[0, ext[1]]
    for t in range(1, len(logp)):
        prev1 = np.concatenate(([-np.inf], alpha[:-1]))
        prev2 = np.concatenate(([-np.inf, -np.inf], alpha[:-2]))
        prev2[~skip] = -np.inf
        alpha = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + logp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]))


def log_likelihoods(logp: np.ndarray, texts: list[list[int]]) -> list[float]:
    """log_likelihood of each label sequence, all run through the steps together (the same numbers, faster)."""
    out = [0.0] * len(texts)
    todo = [i for i, labels in enumerate(texts) if labels and len(labels) <= len(logp)]
    for i, labels in enumerate(texts):
        if not labels:
            out[i] = float(logp[:, 0].sum())
        elif len(labels) > len(logp):
            out[i] = -np.inf
    if not todo:
        return out
    width = 2 * max(len(texts[i]) for i in todo) + 1
    ext = np.zeros((len(todo), width), np.int64)
    skip = np.zeros((len(todo), width), bool)
    last = np.zeros(len(todo), np.int64)  # each sequence's last extended state
    for row, i in enumerate(todo):
        e, k = _extended(texts[i])
        ext[row, :len(e)], skip[row, :len(e)], last[row] = e, k, len(e) - 1
    # States past a sequence's end stay at -inf: only its own states are read at the end.
    valid = np.arange(width)[None, :] <= last[:, None]
    alpha = np.full((len(todo), width), -np.inf)
    alpha[:, 0], alpha[:, 1] = logp[0, 0], logp[0, ext[:, 1]]
    alpha[~valid] = -np.inf
    blocked = np.where(skip, 0.0, -np.inf)
    inf2 = np.full((len(todo), 2), -np.inf)
    for t in range(1, len(logp)):
        prev1 = np.concatenate((inf2[:, :1], alpha[:, :-1]), axis=1)
        prev2 = np.concatenate((inf2, alpha[:, :-2]), axis=1) + blocked
        alpha = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + logp[t][ext]
        alpha[~valid] = -np.inf
    rows = np.arange(len(todo))
    ends = np.logaddexp(alpha[rows, last], alpha[rows, last - 1])
    for row, i in enumerate(todo):
        out[i] = float(ends[row])
    return out


def char_probs(logp: np.ndarray, labels: list[int]) -> list[float]:
    """Each label's probability at the step where the best alignment (Viterbi) emits it most surely."""
    if not labels or len(logp) < len(labels):
        return [0.0] * len(labels)
    ext, skip = _extended(labels)
    n, steps = len(ext), len(logp)
    score = np.full(n, -np.inf)
    score[0], score[1] = logp[0, 0], logp[0, ext[1]]
    back = np.zeros((steps, n), np.int8)  # how far back in the extended sequence each state came from
    for t in range(1, steps):
        options = np.stack([score,
                            np.concatenate(([-np.inf], score[:-1])),
                            np.where(skip, np.concatenate(([-np.inf, -np.inf], score[:-2])), -np.inf)])
        back[t] = options.argmax(axis=0)
        score = options.max(axis=0) + logp[t, ext]
    state = n - 1 if score[n - 1] >= score[n - 2] else n - 2
    best = [0.0] * len(labels)
    for t in range(steps - 1, -1, -1):
        if state % 2:
            k = state // 2
            best[k] = max(best[k], float(np.exp(logp[t, ext[state]])))
        state -= int(back[t, state])
    return best
