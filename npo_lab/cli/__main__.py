"""``python -m npo_lab.cli ...`` (what ``accelerate launch -m npo_lab.cli`` runs): the ``npo-lab`` command."""

from . import main

raise SystemExit(main())
