"""Ingest: resumable uploads, their bytes on disk, and probing what they hold."""
