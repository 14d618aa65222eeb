"""``python -m etiket_sync_agent`` runs the sync loop until stopped."""

from etiket_sync_agent.run import main

if __name__ == "__main__":
    raise SystemExit(main())
