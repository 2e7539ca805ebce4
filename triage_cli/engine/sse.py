"""Server-sent events read from a byte stream: the `data` of each event, nothing more.

The model adapter reads a chat completion's stream with this instead of the SDK's loop, which
builds a model object per chunk (about ten times the cost of parsing the chunk). Lines end in LF,
CRLF or CR; a comment (`: keep-alive`) and the `event`, `id` and `retry` fields are skipped; an
event's data lines are joined with a newline; an event is dispatched at its blank line, so one
cut off before it is not read (as the SDK's decoder does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The data of each event in `chunks`, as bytes (a JSON parser takes them as they are)."""
    async for batch in sse_batches(chunks):
        for data in batch:
            yield data


async def sse_batches(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """The data of the events each read of `chunks` completes, a list a read (an empty one when a
    read completes none: a keep-alive comment, part of an event): a reader that has fallen behind
    gets what has queued up at once, and one waiting knows the server is still there."""
    pending = b""  # the unfinished last line
    data: list[bytes] = []
    after_cr = False  # the last chunk ended in CR: a LF starting the next one ends no line
    async for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if b"\r" in chunk:
            after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            after_cr = False
        lines = (pending + chunk if pending else chunk).split(b"\n")
        pending = lines.pop()
        ready: list[bytes] = []
        for line in lines:
            if not line:
                if data:
                    ready.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data = []
            elif line.startswith(b"data"):
                value = line[4:]
                if not value:
                    data.append(b"")
                elif value[:1] == b":":
                    data.append(value[2:] if value[1:2] == b" " else value[1:])
                # a field named "datax" is no data field: skipped like any unknown one
        yield ready
