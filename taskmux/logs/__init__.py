"""Task output and lifecycle events: the spool, the collector, reading, search, events."""
