"""Luma download: turn a Luma video task id into a redirect to its watermark-free MP4."""
