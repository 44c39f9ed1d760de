"""``python -m promptrec.cli``: the ``promptrec`` command."""

from promptrec.cli import main

main()
