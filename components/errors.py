"""The one exception type for user mistakes (bad input, bad usage)."""


class UserError(Exception):
    """A mistake the user can fix: a missing file, an unparsable config, an unknown option.

    Command lines turn it into a one-line ``error: <message>`` and exit status 2; it must never
    surface as a traceback. The message names the file or value and the reason.
    """
