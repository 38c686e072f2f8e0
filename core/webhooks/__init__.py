"""Webhooks (reference §7): subscriptions, the requests events create, their signed delivery and
history."""
