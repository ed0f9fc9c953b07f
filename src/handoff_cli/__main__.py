"""``python -m handoff_cli`` runs the ``handoff`` command."""

from handoff_cli.main import main

main()
