"""Shared fixtures: every test starts with grad mode on, anomaly detection off and a fixed
seed, and a test that leaves the thread's grad mode changed fails loudly."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import tapegrad as tg

# optable.py (the shared op table) sits next to this file.
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _clean_modes():
    tg.manual_seed(0)
    yield
    leaked = not tg.is_grad_enabled()
    tg._core.set_grad_enabled(True)
    tg._core.set_anomaly_enabled(False)
    assert not leaked, "the test left grad mode disabled"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
