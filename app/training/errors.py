"""The one error training raises: the input cannot be trained on, in one line that says how to fix it."""


class TrainingError(Exception):
    """The input cannot be trained on; the message says why and how to fix it."""
