"""What a server's message database holds: raw messages, deliveries, statistics, suppressions, and
the views and searches of messages."""
