"""Hardened detector variants: built over adversarially trained pairs (``python -m core harden``)."""
