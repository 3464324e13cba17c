"""The dead letters and the relay's quarantine, for operators: list, show, re-drive."""
