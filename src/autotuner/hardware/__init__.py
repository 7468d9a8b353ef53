"""Facts several concepts share: GPU specs and model shapes (from a built-in table or a ``config.json``).

Below engines, sim and planning; imports nothing of theirs."""
