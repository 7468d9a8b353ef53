"""The simulated engine's OpenAI-compatible HTTP server (aiohttp.web).

Routes: ``GET /health`` (503 until the simulated start-up is over), ``GET /v1/models``,
``POST /v1/completions`` and ``POST /v1/chat/completions`` (streamed as server-sent events or one
JSON answer), ``GET /metrics``. A prompt's tokens are its words (chat: the words of every message's
content); the answer is exactly ``max_tokens`` words, each followed by a space, chosen from the prompt
and the seed. Streams always end with a usage chunk, then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from ..bench.prompts import message_text
from .driver import RealTimeDriver
from .engine import SimEngine
from .pacing import stream_chunk_boundary
from .prometheus import render_metrics
from .tokens import block_hashes, output_words

DEFAULT_MAX_TOKENS = {"completions": 16, "chat": 256}
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


def error_response(message: str, status: int = 400, param: str | None = None) -> web.Response:
    kind = {400: "BadRequestError", 404: "NotFoundError", 503: "ServiceUnavailableError"}.get(status, "Error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return web.json_response(body, status=status)


class SimServer:
    def __init__(self, engine: SimEngine, ready_at: float | None = None):
        self.engine = engine
        self.driver = RealTimeDriver(engine)
        self.ready_at = time.monotonic() if ready_at is None else ready_at
        self.created = int(time.time())

    @property
    def ready(self) -> bool:
        return time.monotonic() >= self.ready_at

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.on_startup.append(self._start_driver)
        app.on_cleanup.append(self._stop_driver)
        return app

    async def _start_driver(self, app: web.Application) -> None:
        self.driver.start()

    async def _stop_driver(self, app: web.Application) -> None:
        await self.driver.stop()

    # -- simple routes ------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.Response(status=503, text="the engine is starting")
        return web.Response(status=200)

    async def models(self, request: web.Request) -> web.Response:
        cfg = self.engine.config
        card = {"id": cfg.served_name, "object": "model", "created": self.created, "owned_by": cfg.personality,
                "root": cfg.model, "max_model_len": cfg.context_length}
        return web.json_response({"object": "list", "data": [card]})

    async def metrics(self, request: web.Request) -> web.Response:
        text = render_metrics(self.engine, self.driver.gen_throughput())
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    # -- generation ---------------------------------------------------------------------------------
    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "completions")

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "chat")

    async def _generate(self, request: web.Request, api: str) -> web.StreamResponse:
        if not self.ready:
            return error_response("the engine is still starting", 503)
        try:
            body = await _json_body(request)
            prompt = _prompt_text(body, api)
            max_tokens = _max_tokens(body, api)
            self._check_model(body)
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise BadRequest("'stream' must be true or false", "stream")
            priority = body.get("priority", 0)
            if not isinstance(priority, int) or isinstance(priority, bool):
                raise BadRequest("'priority' must be an integer", "priority")
        except BadRequest as e:
            return error_response(e.message, e.status, e.param)
        words = prompt.split()
        rejection = self.engine.check_request(len(words), max_tokens)
        if rejection:
            return error_response(rejection, 400, "max_tokens")
        prefix = "cmpl" if api == "completions" else "chatcmpl"
        rid = f"{prefix}-{uuid.uuid4().hex}"
        texts = output_words(prompt, self.engine.config.seed, max_tokens)
        sim_request = self.engine.make_request(rid, len(words), max_tokens, self.driver.now(),
                                               block_hashes(words, self.engine.block_size), priority)
        queue = self.driver.submit(sim_request)
        reply = _Reply(rid, api, self.engine.config.served_name, len(words), max_tokens)
        try:
            if stream:
                return await self._stream(request, queue, texts, reply)
            return await self._whole(queue, texts, reply)
        finally:
            self.driver.release(rid)

    def _check_model(self, body: dict) -> None:
        model = body.get("model")
        cfg = self.engine.config
        if cfg.personality == "vllm" and model is not None and model not in (cfg.served_name, cfg.model):
            raise BadRequest(f"The model `{model}` does not exist.", "model", status=404)

    async def _whole(self, queue: asyncio.Queue, texts: list[str], reply: _Reply) -> web.Response:
        produced = 0
        while True:
            kind, value = await queue.get()
            if kind == "token":
                produced += 1
            elif kind == "error":
                return error_response(str(value), 400)
            else:
                break
        return web.json_response(reply.whole("".join(w + " " for w in texts[:produced])))

    async def _stream(self, request: web.Request, queue: asyncio.Queue, texts: list[str], reply: _Reply
                      ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=_SSE_HEADERS)
        await response.prepare(request)
        interval = self.engine.config.stream_interval
        pending: list[str] = []
        first, finished = True, False
        while not finished:
            # Every event already due goes out in one write: a host too busy to keep up with the model's
            # schedule catches up with fewer, larger writes instead of falling further behind.
            out = bytearray()
            item = await queue.get()
            while True:
                kind, value = item
                if kind == "token":
                    pending.append(texts[value] + " ")
                    if stream_chunk_boundary(value, reply.max_tokens, interval):
                        out += _sse(reply.chunk("".join(pending), first))
                        pending.clear()
                        first = False
                elif kind == "error":
                    out += _sse({"error": {"message": str(value), "type": "BadRequestError", "code": 400}})
                    finished = True
                else:
                    if pending:
                        out += _sse(reply.chunk("".join(pending), first))
                    out += _sse(reply.chunk("", False, finish="length")) + _sse(reply.usage_chunk()) \
                        + b"data: [DONE]\n\n"
                    finished = True
                if finished or queue.empty():
                    break
                item = queue.get_nowait()
            if out:
                await response.write(bytes(out))
        await response.write_eof()
        return response


def _sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class _Reply:
    """The OpenAI response shapes of one request."""

    def __init__(self, rid: str, api: str, model: str, prompt_tokens: int, max_tokens: int):
        self.rid, self.api, self.model = rid, api, model
        self.prompt_tokens, self.max_tokens = prompt_tokens, max_tokens
        self.created = int(time.time())

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.rid, "object": kind, "created": self.created, "model": self.model}

    def usage(self, completion_tokens: int) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": self.prompt_tokens + completion_tokens}

    def chunk(self, text: str, first: bool, finish: str | None = None) -> dict[str, Any]:
        if self.api == "completions":
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            return {**self._head("text_completion"), "choices": [choice]}
        delta: dict[str, Any] = {"content": text} if text or not finish else {}
        if first:
            delta["role"] = "assistant"
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._head("chat.completion.chunk"), "choices": [choice]}

    def usage_chunk(self) -> dict[str, Any]:
        kind = "text_completion" if self.api == "completions" else "chat.completion.chunk"
        return {**self._head(kind), "choices": [], "usage": self.usage(self.max_tokens)}

    def whole(self, text: str) -> dict[str, Any]:
        if self.api == "completions":
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length"}
            head = self._head("text_completion")
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                      "finish_reason": "length"}
            head = self._head("chat.completion")
        return {**head, "choices": [choice], "usage": self.usage(self.max_tokens)}


async def _json_body(request: web.Request) -> dict:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON")
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _prompt_text(body: dict, api: str) -> str:
    if api == "completions":
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        elif isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool)
                                                         for t in prompt):
            prompt = " ".join(f"t{t}" for t in prompt)  # token ids: one word each
        if not isinstance(prompt, str) or not prompt.strip():
            raise BadRequest("'prompt' is required: a non-empty string (or a list of token ids)", "prompt")
        return prompt
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("'messages' is required: a non-empty list of {role, content} objects", "messages")
    text = message_text(messages)
    if not text.strip():
        raise BadRequest("the messages have no text content", "messages")
    return text


def _max_tokens(body: dict, api: str) -> int:
    key = "max_completion_tokens" if api == "chat" and body.get("max_completion_tokens") is not None \
        else "max_tokens"
    value = body.get(key)
    if value is None:
        return DEFAULT_MAX_TOKENS[api]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"'{key}' must be an integer >= 1, got {value!r}", key)
    n = body.get("n", 1)
    if n != 1:
        raise BadRequest(f"'n' must be 1 (the simulated engine returns one choice), got {n!r}", "n")
    return value
