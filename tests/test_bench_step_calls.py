"""bench.step_calls times the same work in its cases: plain SGD by the two-layer kernels and by
the general ones give the same losses, step by step (a benchmark of different work would mislead)."""
import importlib

import numpy as np
import pytest

from fastnn.cli.bench import _runner


@pytest.mark.parametrize("parallel", [False, True])
def test_two_layer_and_general_sgd_cases_agree(parallel):
    _runner()                                       # the source checkout's bench package
    step_calls = importlib.import_module("bench.step_calls")
    made, steps = step_calls.make_cases(parallel)
    assert steps == 80
    two, general = made["two-layer SGD kernel"], made["kernels.train, sgd"]
    for s in range(6):
        # Measured (float32): the two kernels' losses agree to 1.3e-8 relative over these steps
        # (the README's rtol 1e-5 for their weights)
        assert general(s) == pytest.approx(two(s), rel=1e-5)
    # every optimizer's case runs and returns a finite loss
    for label, step in made.items():
        assert np.isfinite(step(7)), label
