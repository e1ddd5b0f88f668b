"""Where log lines go: the journal under systemd, stderr for a person at a shell.

Under systemd, stdout is a stream into journald (it sets $JOURNAL_STREAM), and
a line starting with "<N>" is filed at syslog priority N, so `journalctl -p
warning` works without any journal library. journald adds the time, so the
line carries none. At a shell, lines go to stderr so that a command's own
output on stdout (scan, status) stays clean for pipes.

Privacy rule for every module: a non-hit's plate text is never logged, at
any level, DEBUG included. tests/test_camera_faults.py checks a real run at
DEBUG for the plates of the test clip.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys

# sd-daemon(3) priorities.
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def priority(levelno: int) -> int:
    for level, prio in sorted(_PRIORITY.items(), reverse=True):
        if levelno >= level:
            return prio
    return 7


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        # A traceback's lines would each land as a separate INFO entry; keep their level.
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])


class _ErrorLines(io.TextIOBase):
    """stderr under the journal: lines written by Python (the one-line fatal error,
    a --debug traceback) carry <3>, so they are filed as errors rather than info."""

    def __init__(self, stream):
        self._stream, self._partial = stream, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._stream.write(("" if re.match(r"<[0-7]>", line) else "<3>") + line + "\n")
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.write("\n")
        self._stream.flush()


def under_journal(env: dict[str, str] | None = None) -> bool:
    return bool((os.environ if env is None else env).get("JOURNAL_STREAM"))


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    if under_journal():
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JournalFormatter())
        logging.basicConfig(level=level, handlers=[handler])
        if not isinstance(sys.stderr, _ErrorLines):
            sys.stderr = _ErrorLines(sys.stderr)
    else:
        logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
