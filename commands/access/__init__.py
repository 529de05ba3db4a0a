"""access capability."""
