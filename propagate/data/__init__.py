"""Data files bundled with propagate: the UCI digits and the GUM H.2 readings."""
