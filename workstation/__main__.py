"""``python -m workstation``: the same as the ``responder`` command."""

from workstation.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
