"""rt capability."""
