"""Real servers and worlds for tests/, demo/ and benchmarks/: Synapse, RT, people and rooms."""
