"""Venue adapters: everything venue-specific lives below this package."""
