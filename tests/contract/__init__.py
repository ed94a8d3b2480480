"""Contract suites: one per port, each run against every adapter of that port."""
