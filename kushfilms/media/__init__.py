"""Videos: uploads, storage, transcoding into HLS, and playback."""
