"""RT clients behind one interface: REST 2.0 (RT 5) and REST 1.0 (RT 4.4), chosen by `factory`."""
