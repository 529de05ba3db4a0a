"""general capability."""
