"""Unit tests: pure domain rules, no ports."""
