"""Notifying: task and run callbacks, their messages, the channels, and the deadline alert."""
