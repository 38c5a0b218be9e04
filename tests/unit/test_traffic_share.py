"""The out-of-KB share read off unlabelled confidences (retrieval.calibration.estimate_share)."""

import numpy as np
import pytest

from retrieval.calibration import estimate_share

pytestmark = pytest.mark.unit

RNG = np.random.default_rng(7)
COVERED = RNG.beta(8, 2, 2000)  # questions the KB answers: confident
UNCOVERED = RNG.beta(2, 8, 2000)  # questions it does not: mostly unsure


@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.8])
def test_recovers_the_share_of_a_mixture(share):
    rng = np.random.default_rng(11)
    n = 1000
    k = int(share * n)
    observed = np.concatenate([rng.beta(2, 8, k), rng.beta(8, 2, n - k)])
    assert estimate_share(COVERED, UNCOVERED, observed) == pytest.approx(share, abs=0.05)


def test_all_covered_or_all_uncovered_traffic():
    assert estimate_share(COVERED, UNCOVERED, COVERED[:500]) < 0.05
    assert estimate_share(COVERED, UNCOVERED, UNCOVERED[:500]) > 0.95


def test_needs_all_three_samples():
    with pytest.raises(ValueError, match="needs"):
        estimate_share(COVERED, UNCOVERED, [])
