"""The benchmark matrix: spec parsing, cell planning, the results store, runner and executors."""
