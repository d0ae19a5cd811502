"""Errors that name what a user must fix: the case, the file and the field."""


class InputError(Exception):
    """Bad input found before compute is spent; the message is meant for the user."""

    def __init__(self, message: str, *, case: str | None = None, path: str | None = None,
                 field: str | None = None):
        parts = []
        if case:
            parts.append(f"case {case}")
        if path:
            parts.append(f"file {path}")
        if field:
            parts.append(f"field {field}")
        prefix = f"[{'; '.join(parts)}] " if parts else ""
        super().__init__(prefix + message)
        self.case, self.path, self.field = case, path, field
