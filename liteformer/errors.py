"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class LiteformerError(Exception):
    """Bad input (file, column, hyper-parameter): the message names the input and the problem."""

