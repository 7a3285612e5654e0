"""The rows of an uploaded token file, read as a stream: CSV with a header, a JSON array, or JSON Lines.

The file holds plaintext tokens and may be large: memory stays bounded by the row being decoded, and
no problem quotes a row's text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import TextIO

from orcid_sync.domain.errors import InvalidInputError, Problem
from orcid_sync.domain.tokens.rows import csv_token_rows
from orcid_sync.domain.tokens.upload_models import UploadFormat

MAX_JSON_ROW_CHARS = 1_000_000
_READ_BLOCK = 64 * 1024


def _malformed(row: int, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"the JSON is malformed at row {row}: {reason}", [Problem(row=row, field="row", reason=reason)]
    )


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


class _Buffer:
    """A window on a text stream: enough of it to decode the next value, never the whole stream."""

    def __init__(self, reader: TextIO, head: str) -> None:
        self._reader = reader
        self.text = head
        self.pos = 0
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self._reader.read(_READ_BLOCK)
        if not chunk:
            self.eof = True
            return False
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

    def next_char(self) -> str | None:
        """The next non-space character (not consumed), reading on as needed; None at the end."""
        while True:
            self.pos = _skip_space(self.text, self.pos)
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return None


def _array_rows(buffer: _Buffer) -> Iterator[object]:
    decoder = json.JSONDecoder()
    row = 0
    buffer.pos += 1  # the "["
    if buffer.next_char() == "]":
        buffer.pos += 1
    else:
        while True:
            if buffer.next_char() is None:
                raise _malformed(row, "the array ends before its closing ]")
            try:
                value, end = decoder.raw_decode(buffer.text, buffer.pos)
                # A number at the end of the window may continue in the next block.
                complete = end < len(buffer.text) or buffer.eof
            except json.JSONDecodeError as exc:
                if len(buffer.text) - buffer.pos > MAX_JSON_ROW_CHARS or not buffer.more():
                    raise _malformed(row, exc.msg) from None
                continue
            if not complete:
                buffer.more()
                continue
            yield value
            row += 1
            buffer.pos = end
            separator = buffer.next_char()
            buffer.pos += 1
            if separator == "]":
                break
            if separator != ",":
                raise _malformed(row, "expected , or ] after the previous row")
    if buffer.next_char() is not None:
        raise _malformed(row, "there is more text after the closing ]")


def _json_lines(buffer: _Buffer, reader: TextIO) -> Iterator[object]:
    def lines() -> Iterator[str]:
        head, pending = buffer.text[buffer.pos :], ""
        for line in io.StringIO(head, newline="\n"):
            if line.endswith("\n"):
                yield pending + line
                pending = ""
            else:
                pending += line
        if pending:
            yield pending + reader.readline()
        yield from reader

    for number, line in enumerate(lines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"line {number} is not valid JSON: {exc.msg}",
                [Problem(field="row", reason=f"line {number}: {exc.msg} at column {exc.colno}")],
            ) from None


def upload_rows(reader: TextIO, file_format: UploadFormat) -> Iterator[object]:
    """The rows of an uploaded file, one at a time: CSV with a header, a JSON array, or JSON Lines."""
    if file_format is UploadFormat.CSV:
        yield from csv_token_rows(reader)
        return
    buffer = _Buffer(reader, reader.read(_READ_BLOCK))
    first = buffer.next_char()
    if first is None:
        return
    if first == "[":
        yield from _array_rows(buffer)
    else:
        yield from _json_lines(buffer, reader)
