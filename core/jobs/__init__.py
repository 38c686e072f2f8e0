"""What the workers run: one job of queued messages from claim to record, and the periodic
housekeeping tasks."""
