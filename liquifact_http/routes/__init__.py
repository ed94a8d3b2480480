"""Route tables. Each module exposes ``routes`` (canonical ``/v1`` or root paths)."""
