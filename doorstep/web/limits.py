"""A pure-ASGI guard that refuses bodies over the configured size before anything reads them."""

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doorstep.web.problems import MEDIA_TYPE, TYPE_BASE


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, uploads: tuple[re.Pattern[str], int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths whose forms carry photos (the returns portal) get their own, larger limit.
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if self.uploads is not None and self.uploads[0].match(scope.get("path", "")):
            limit = self.uploads[1]
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        body: dict[str, Any] = {
            "type": TYPE_BASE + "payload-too-large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"the request body exceeds {limit} bytes: send a smaller body or split it",
            "instance": scope.get("path", ""),
        }
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", MEDIA_TYPE.encode()),
                    (b"content-length", str(len(raw)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})


class _TooLarge(Exception):
    pass
