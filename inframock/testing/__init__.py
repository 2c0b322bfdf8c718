"""Real stacks for tests, `make bench` and the soak: the harness and its data."""
