"""The scheduler role: the cron jobs and the requeuer, active in one process at a time."""
