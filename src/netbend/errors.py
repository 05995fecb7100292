"""The one exception type netbend raises for bad input or an unusable environment."""


class NetbendError(Exception):
    """A problem the user can fix; its message is one line that names the bad value.

    The command line prints the message (no traceback) and exits with status 2.
    """


def first_words(error: BaseException | str, limit: int = 160) -> str:
    """The start of an error's message (of a library's, often many lines), on one line, cut at a word."""
    text = error if isinstance(error, str) else str(error) or type(error).__name__
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " ..."
