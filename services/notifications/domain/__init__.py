"""Notifications' pure domain: who is told what and when, contact windows, webhook signing."""
