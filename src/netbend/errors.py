"""The one exception type netbend raises for bad input or an unusable environment."""


class NetbendError(Exception):
    """A problem the user can fix; its message is one line that names the bad value.

    The command line prints the message (no traceback) and exits with status 2.
    """
