"""The composition root, the supervisor, the bots and the schedule."""
