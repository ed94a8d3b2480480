"""Adapters binding the domain to storage, caches, the clock and the chain, one subpackage per
technology, and the library entry point that picks them: ``open_services``.

Importing this package loads no driver and no web framework; each adapter is imported when a
configuration selects it (see ``liquifact_adapters.composition``).
"""

from liquifact_adapters.composition import (
    MigrationRunner,
    SchemaOutdated,
    ServicesConfig,
    migration_runner,
    open_cache,
    open_services,
    open_store,
)

__all__ = [
    "MigrationRunner",
    "SchemaOutdated",
    "ServicesConfig",
    "migration_runner",
    "open_cache",
    "open_services",
    "open_store",
]
