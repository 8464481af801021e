"""Size limits at the ASGI level: the HTTP request body and each WebSocket message.

An HTTP body over the limit is refused with 413 before any of it is parsed (a declared
Content-Length is checked first; a chunked body is counted as it arrives). A WebSocket
message over the limit closes the connection with 1009 (RFC 6455 "message too big").
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
WS_MESSAGE_TOO_BIG = 1009


class PayloadTooLargeError(Exception):
    """The request body is over the limit."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"Request body exceeds the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def buffer_body(scope: Scope, receive: Receive, max_bytes: int) -> Receive:
    """Read the whole body (at most ``max_bytes``) and return a ``receive`` that replays it.

    Raises PayloadTooLargeError as soon as the body is known to be larger.
    """
    declared = _declared_length(scope)
    if declared is not None and declared > max_bytes:
        raise PayloadTooLargeError(max_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _replay(message, receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
    return _replay(body, receive)


def _replay(first: Message, receive: Receive) -> Receive:
    pending: list[Message] = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def limit_websocket(receive: Receive, send: Send, max_bytes: int) -> tuple[Receive, Send]:
    """``receive``/``send`` that close the socket with 1009 on a message over ``max_bytes``.

    After that close the application sees a disconnect and whatever it still sends is dropped.
    """
    closed = False

    async def guarded_receive() -> Message:
        nonlocal closed
        message = await receive()
        if message["type"] != "websocket.receive" or closed:
            return message
        text, data = message.get("text"), message.get("bytes")
        size = len(text.encode("utf-8")) if isinstance(text, str) else len(data or b"")
        if size <= max_bytes:
            return message
        closed = True
        reason = f"message exceeds {max_bytes} bytes"
        await send({"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG, "reason": reason})
        return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}

    async def guarded_send(message: Message) -> None:
        if not closed:
            await send(message)

    return guarded_receive, guarded_send
