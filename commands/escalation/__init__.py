"""escalation capability."""
