"""Use cases that drive ports with strategy decisions."""
