"""Fixtures shared by tests/, demo/ and benchmarks/ (real servers, never mocks)."""
