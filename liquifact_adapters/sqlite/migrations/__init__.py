"""Versioned SQL migrations of the SQLite store, read as package data."""
