"""Versioned SQL migrations of the PostgreSQL store, read as package data."""
