"""Quietline: reach an organisation without anyone being able to tell that you did."""
