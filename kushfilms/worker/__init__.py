"""The job queue and its consumers."""
