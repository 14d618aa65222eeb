"""``python -m etiket_sync_agent [OPTIONS]`` runs the sync loop like ``etiket-sync run``
(same options, ``--help`` included) until stopped."""

from etiket_sync_agent.cli.app import module_main

if __name__ == "__main__":
    module_main()
