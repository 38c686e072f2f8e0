"""The queue of messages to process: queued rows and their claims, enqueueing, what processing
decided, recording it, and operators' actions."""
