"""What the SQL stores (``sqlite``, ``postgres``) share: row mapping through one cattrs
converter whose dialect hooks differ, the statements whose SQL is the same, and the repository
logic written once over a small ``Session`` port. Each dialect subclasses the abstract bases and
supplies only what really differs (types, locking, placeholders, statements that differ).

This package imports no database driver: it stays independent of both technologies.
"""
