"""The one exception type a user can fix: scripts print its sentence, not a traceback."""


class UserError(ValueError):
    """Bad input, a missing or damaged file, an impossible setting: says what to do."""
