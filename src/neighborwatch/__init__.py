"""neighborwatch: real-time insider threat detection at the level of single activities (LAN)."""

__version__ = "0.1.0"
