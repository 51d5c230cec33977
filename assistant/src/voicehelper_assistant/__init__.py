"""The reference voice assistant of the VoiceHelper session server, on the Python SDK."""
