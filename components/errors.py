"""The one exception type for user mistakes (bad input, bad usage)."""


class UserError(Exception):
    """A mistake the user can fix: a missing file, an unparsable config, an unknown option.

    Command lines turn it into a one-line ``error: <message>`` and exit status 2; it must never
    surface as a traceback. The message names the file or value and the reason.
    """


def did_you_mean(name: str, known) -> str:
    """``" (did you mean 'a' or 'b'?)"`` for the known names close to ``name``, else ``""``.

    Close means a similar spelling or containing ``name`` (``epochs`` -> ``train_epochs``).
    """
    import difflib

    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    close += [k for k in known if name and name.lower() in k.lower() and k not in close]
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(k) for k in close[:3])}?)"
