"""Sweep: a benchmark harness for speech source separation."""

__version__ = "0.4.2"
