"""The ``handoff`` command line: server, agents' TUI, visitor simulator, KB and policy tools."""
