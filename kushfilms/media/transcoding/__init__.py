"""Transcoding: the HLS ladder, the ffmpeg run that makes it, and the pictures and
playlists made from what it leaves."""
