"""Service tests: use cases on the in-memory fakes."""
