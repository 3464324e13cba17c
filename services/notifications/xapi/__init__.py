"""Learning events as xAPI statements for a Learning Record Store (LRS).

``statements``: the events as statements (pure). ``consumer``: its own consumer, with its own
inbox, queues the statements. ``lrs``: a background job sends them to the configured LRS,
retried with backoff. ``settings``: where the LRS is and how to reach it.
"""
