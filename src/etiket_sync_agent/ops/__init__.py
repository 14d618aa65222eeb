"""Operations: running the agent as a service, alerts, metrics and health.

Everything here sits above the engine and reads what it reports (the state DB, through
the same service functions as ``etiket-sync status``); nothing here changes how items
are synchronized, and a failure here never stops the sync loop.
"""
