"""``python -m tapegrad`` runs the command-line interface (see :mod:`tapegrad.cli`)."""

from tapegrad.cli import main

raise SystemExit(main())
