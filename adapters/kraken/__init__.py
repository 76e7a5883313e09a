"""Native Kraken adapter: signed REST, validated WebSocket v2 books."""
