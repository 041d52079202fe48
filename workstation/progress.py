"""The one progress line of the workstation commands (``investigate``, ``start``)."""

from __future__ import annotations

import shutil
from typing import TextIO

from responder.encode import terminal_line


class ProgressLine:
    """One line rewritten in place on a terminal, plain lines otherwise.

    Every text passes through :func:`terminal_line`: a label can quote the attacker's input (a
    credential found in the logs, an error cause), so its escapes are shown, never sent.
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None, width: int | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.width = width or shutil.get_terminal_size((100, 20)).columns
        self._drawn = False

    def show(self, text: str) -> None:
        line = terminal_line(text)
        if self.tty:
            self.stream.write("\r\x1b[K" + line[: max(self.width - 1, 10)])
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the updating line (before an error or the final output)."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
