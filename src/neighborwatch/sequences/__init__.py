"""Events to activity sequences (sessions, user-days), tokens, splits and training samples."""

from neighborwatch.sequences.base import SequenceSet

__all__ = ["SequenceSet"]
