"""Suite-wide settings: quiet progress bars, and the real CERT rows when this machine has them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NEIGHBORWATCH_PROGRESS", "0")

CERT_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "cert-samples"


@pytest.fixture(scope="session")
def cert_samples() -> Path:
    """../shared/cert-samples (real CERT rows, internal testing only); skip where absent."""
    if not CERT_SAMPLES.is_dir():
        pytest.skip("real CERT samples not available (../shared/cert-samples)")
    return CERT_SAMPLES
