"""Detectors: LAN and the paper's baselines, all behind one contract (`models.base.Detector`)."""
