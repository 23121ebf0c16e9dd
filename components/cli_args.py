"""Command-line plumbing shared by every step: one-line errors and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from components.errors import UserError

EXIT_USAGE = 2


class StepArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line: ``error: ...`` and exit 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        """Print ``error: <message>`` on stderr and exit with status 2."""
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def run_main(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None) -> int:
    """Call ``main(argv)`` and turn a ``UserError`` into ``error: ...`` on stderr and status 2.

    Returns the exit status (0 on success) instead of raising, so callers can ``sys.exit`` it;
    argparse's own exits (``--help``: 0, a usage error already printed: 2) become statuses too.
    """
    try:
        status = main(argv)
    except SystemExit as exit_:
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else EXIT_USAGE
    except UserError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    return int(status or 0)
