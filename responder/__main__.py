"""``python -m responder``: the same as the ``responder`` command."""

from responder.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
