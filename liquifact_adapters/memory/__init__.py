"""In-memory fakes of every port, for tests and for library users who want no I/O."""

from liquifact_adapters.memory.fakes import FixedClock, SequentialIdGenerator
from liquifact_adapters.memory.objects import InMemoryObjectStore
from liquifact_adapters.memory.store import InMemoryStore

__all__ = ["FixedClock", "InMemoryObjectStore", "InMemoryStore", "SequentialIdGenerator"]
