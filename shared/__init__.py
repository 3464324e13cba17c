"""Songji's shared kit: contracts, event sourcing, runtime and embedded infrastructure."""
