"""Quietline: reach an organisation without anyone being able to tell that you did."""

__version__ = "0.1.0"
