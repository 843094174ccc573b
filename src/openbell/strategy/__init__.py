"""Pure decisions: given facts and ``now``, return intents. No I/O."""
