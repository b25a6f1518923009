"""The two kinds of failure every gapfill command distinguishes.

A `UserError` is bad input (a missing file, a corrupt recording, a wrong option): the CLI prints its
message as one line and exits 1, with no traceback. Anything else that escapes is a bug in gapfill:
exit 2, with the traceback in the log only.
"""


class GapfillError(Exception):
    """Base class of every error gapfill raises on purpose."""


class UserError(GapfillError):
    """Bad input. The message names the file or option and the problem, on one line."""
