"""The soak's verdict: memory that swings from sample to sample is flat; memory that creeps is not."""

from __future__ import annotations

from edge_agent.commands.soak import FLAT_TOLERANCE_MB, SoakResult


def result(mbs: list[float], every: int = 250) -> SoakResult:
    return SoakResult(frames=every * len(mbs), seconds=100.0,
                      samples=[(0, 150.0)] + [(every * (i + 1), mb) for i, mb in enumerate(mbs)])


def test_a_swing_between_two_samples_is_not_growth():
    # The shape of two workers' RSS on the highway clip: 276-301 MB and back,
    # where the first judged sample fell low and the last high.
    swinging = [270.7, 281.0, 278.5, 300.3, 279.0, 296.9, 280.2, 290.4, 279.6, 301.5]
    soak = result(swinging)
    assert swinging[-1] - swinging[0] > FLAT_TOLERANCE_MB  # one sample at each end would call it growth
    assert soak.flat
    assert soak.start == (250, 278.5) and soak.end_mb == 290.4


def test_a_creep_is_growth_whatever_the_swing():
    creeping = [270 + 4 * i + (10 if i % 2 else 0) for i in range(12)]  # +4 MB a sample, swinging by 10
    soak = result(creeping)
    assert not soak.flat
    assert soak.end_mb - soak.start_mb > FLAT_TOLERANCE_MB


def test_the_warm_up_is_not_judged_and_a_short_run_still_has_a_verdict():
    soak = result([150.0, 270.0, 272.0, 271.0], every=100)  # frame 100 is in the warm-up (the arenas fill)
    assert soak.start == (200, 271.0) and soak.flat
    assert SoakResult().flat and SoakResult().end_mb == 0.0
