"""The one error type users see: it names the file, the record and the field.

The CLI catches ``OccbenchError`` and exits non-zero with its message; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class OccbenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    def __init__(
        self,
        message: str,
        *,
        file: object | None = None,
        record: object | None = None,
        field: str | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.record = record
        self.field = field
        self.reason = message
        where = []
        if self.file is not None:
            where.append(self.file)
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")
