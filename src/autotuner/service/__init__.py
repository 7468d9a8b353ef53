"""Wiring: one task from start to results (``session``: runner, deployer, tuner) and the queue
worker that claims tasks from the database and runs them (``worker``). ``search`` keeps the loop,
``api`` keeps HTTP; both call into here rather than into each other."""
