"""arbscan: cross-exchange crypto arbitrage scanner."""

__version__ = "0.1.0"
