"""Step adapters: each step of the cycle calls one package and returns plain step data."""
