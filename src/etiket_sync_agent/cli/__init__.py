"""The ``etiket-sync`` command line: parses, calls one service function, renders."""
