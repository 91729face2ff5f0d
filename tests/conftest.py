"""Shared fixtures: each group lives in its own module and is imported here."""
