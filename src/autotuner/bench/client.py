"""One streamed OpenAI-API request, timed: ``await send(session, ...) -> RequestRecord``.

All requests of a benchmark share one ``aiohttp`` session (one connection pool, see ``make_session``).
Servers such as llama.cpp close kept-alive connections abruptly, so a request that fails with a
connection-level error before any byte of the response arrived is retried on a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import time
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from .api_kinds import API_KINDS
from .fastjson import dumps, loads
from .metrics import RequestRecord
from .prompts import Prompt, message_text, prompt_words

APIS = API_KINDS  # the API kinds' names (kept for the benchmark's callers)
RETRIES = 2  # extra attempts, each on a fresh connection
ERROR_EXCERPT = 200
# The server dropped (or refused) the connection before answering: safe to send again.
_RETRYABLE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientConnectionResetError,
              ConnectionResetError)
_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}
DEFAULT_STALL = 30.0
# Seconds a streamed response may go without a token before it is cut (``timeouts.stall``). A context
# variable: the experiment runner sets it around one benchmark, without threading it through every level.
stall_limit: contextvars.ContextVar[float] = contextvars.ContextVar("stall_limit", default=DEFAULT_STALL)


class ReadStampingHandler(ResponseHandler):
    """aiohttp's connection protocol, noting when the socket last delivered bytes. A token is timed at
    that read, not when its request's coroutine gets its turn: at high concurrency one loop iteration
    wakes hundreds of streams, and the last of them would otherwise be stamped milliseconds late."""

    read_at = 0.0

    def data_received(self, data: bytes) -> None:
        if data:  # aiohttp itself calls this with b"" when the reader resumes: that is no arrival
            self.read_at = time.perf_counter()
        super().data_received(data)


def stamping_connector(**options: Any) -> aiohttp.TCPConnector:
    """A ``TCPConnector`` whose connections are ``ReadStampingHandler`` (aiohttp builds each from its
    ``_factory``; without that hook tokens are timed when their coroutine runs, as before)."""
    connector = aiohttp.TCPConnector(**options)
    factory = getattr(connector, "_factory", None)
    if isinstance(factory, functools.partial) and factory.func is ResponseHandler:
        connector._factory = functools.partial(ReadStampingHandler, *factory.args, **factory.keywords)
    return connector


def make_session(headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """The benchmark's one connection pool: unbounded (the load levels bound concurrency themselves).

    Idle connections are dropped after 4 s, before common server keep-alive timeouts (llama.cpp: 5 s),
    which narrows the window where a reused connection is closed under our feet.
    """
    connector = stamping_connector(limit=0, keepalive_timeout=4.0)
    return aiohttp.ClientSession(connector=connector, headers=headers, trace_configs=[_SENT_TRACE],
                                 timeout=aiohttp.ClientTimeout(total=None))


async def _on_body_sent(session: Any, context: Any, params: Any) -> None:
    # Restamp ``start`` as the request bytes go to the socket. Before Python 3.12 aiohttp writes the
    # body from a task of its own, queued behind every other ready coroutine: under a burst of
    # concurrent requests that wait is the client's, not the server's, and must not count in TTFT.
    record = context.trace_request_ctx
    if isinstance(record, RequestRecord) and record.first_token is None:
        record.start = time.perf_counter()


def _sent_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_on_body_sent)
    return trace


_SENT_TRACE = _sent_trace()


def endpoint_url(base_url: str, api: str) -> str:
    if api not in API_KINDS:
        raise ValueError(f"api {api!r} is not one of: {', '.join(API_KINDS)}")
    kind = API_KINDS[api]
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return f"{base}/{kind.path}"


def request_body(model: str, prompt: Prompt, max_tokens: int, api: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "stream": True,
                            "stream_options": {"include_usage": True},
                            "ignore_eos": True}  # engines' extension: produce exactly max_tokens
    if API_KINDS.entry(api).messages:
        body["messages"] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    else:
        body["prompt"] = prompt if isinstance(prompt, str) else message_text(prompt)
    return body


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_EXCERPT else text[:ERROR_EXCERPT] + "..."


def _describe(e: BaseException) -> str:
    detail = str(e)
    return _short(f"{type(e).__name__}: {detail}" if detail else type(e).__name__)


async def send(session: aiohttp.ClientSession, base_url: str, model: str, prompt: Prompt, max_tokens: int,
               api: str = "chat", timeout: float = 600.0) -> RequestRecord:
    """Send one streamed request and time it. Never raises for server or network trouble (the record's
    ``error`` says what went wrong); cancellation propagates."""
    url = endpoint_url(base_url, api)
    data = dumps(request_body(model, prompt, max_tokens, api))
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    for attempt in range(RETRIES + 1):
        record = RequestRecord(start=time.perf_counter())
        try:
            if attempt == 0:
                response = await session.post(url, data=data, headers=_HEADERS, timeout=client_timeout,
                                              trace_request_ctx=record)
                await _read(response, record, prompt, timeout)
            else:  # a connection of its own, closed afterwards: no stale pooled socket can be picked
                async with aiohttp.ClientSession(connector=stamping_connector(force_close=True),
                                                 headers=session.headers, trace_configs=[_SENT_TRACE]) as fresh:
                    response = await fresh.post(url, data=data, headers=_HEADERS, timeout=client_timeout,
                                                trace_request_ctx=record)
                    await _read(response, record, prompt, timeout)
            return record
        # ``_read`` handles its own errors: what lands here failed before the response began.
        except _RETRYABLE as e:
            if attempt == RETRIES:
                return _failed(record, f"connection failed: {_describe(e)}")
        except TimeoutError:
            return _failed(record, f"timeout after {timeout:g}s")
        except aiohttp.ClientError as e:
            return _failed(record, _describe(e))
    raise AssertionError("unreachable")


def _failed(record: RequestRecord, message: str) -> RequestRecord:
    record.end = time.perf_counter()
    record.error = message
    return record


async def _read(response: aiohttp.ClientResponse, record: RequestRecord, prompt: Prompt, timeout: float) -> None:
    """Consume the response into ``record``; bytes have arrived, so nothing here is retried."""
    try:
        if response.status != 200:
            body = await response.text(errors="replace")
            record.end = time.perf_counter()
            record.error = _short(f"HTTP {response.status}: {body}")
            return
        if response.content_type == "application/json":  # the server ignored "stream": one JSON answer
            _whole(loads(await response.read()), record)
        else:
            await _stream_until_stalled(response, record, stall_limit.get())
    except TimeoutError:
        record.error = f"timeout after {timeout:g}s"
    except (aiohttp.ClientError, ConnectionError) as e:
        record.error = _short(f"connection lost mid-response: {_describe(e)}")
    except ValueError as e:  # bad JSON in the body
        record.error = _short(f"unreadable response: {e}")
    finally:
        response.release()
        if not record.end:
            record.end = time.perf_counter()
    if record.error is None and not record.token_times:
        record.error = "the response carried no output text"
    if not record.input_tokens:
        record.input_tokens = prompt_words(prompt)
    if not record.output_tokens:
        record.output_tokens = len(record.token_times)


async def _stream_until_stalled(response: aiohttp.ClientResponse, record: RequestRecord, stall: float) -> None:
    """``_stream``, cut once no token has arrived for ``stall`` seconds (the engine may keep the connection
    open for ever). One timer per request, re-armed from the last token's time: no work per token."""
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    try:
        async with asyncio.timeout(None) as cut:
            def check() -> None:
                quiet = time.perf_counter() - (record.token_times[-1] if record.token_times else began)
                if quiet >= stall:
                    cut.reschedule(loop.time())
                else:
                    timer[0] = loop.call_later(stall - quiet, check)

            timer = [loop.call_later(stall, check)]
            try:
                await _stream(response, record)
            finally:
                timer[0].cancel()
    except TimeoutError:
        if not cut.expired():
            raise  # the request's own (total) timeout
        record.error = f"stalled: no token for {stall:g} s"


async def _stream(response: aiohttp.ClientResponse, record: RequestRecord) -> None:
    """Time the SSE stream, one read at a time: the events of one read arrived together and share its
    timestamp (when the socket delivered them, see ``ReadStampingHandler``), so a read costs a regex
    scan, not a JSON decode per token."""
    pending = b""
    protocol = response.connection.protocol if response.connection is not None else None
    async for data in response.content.iter_any():
        now = time.perf_counter()
        read_at = getattr(protocol, "read_at", 0.0)
        if 0.0 < read_at <= now:
            now = read_at
        pending += data
        cut = pending.rfind(b"\n") + 1
        if cut:
            complete, pending = pending[:cut], pending[cut:]
            if _events(complete, now, record):
                record.end = now
                return
    if pending:
        _events(pending, time.perf_counter(), record)
    record.end = time.perf_counter()


def _events(lines: bytes, now: float, record: RequestRecord) -> bool:
    """Handle whole SSE lines received at ``now``; True at the end of the stream ([DONE] or an error).

    A token is a ``data:`` line with non-empty text: that much is counted by one regex over the whole
    read. Only the rare lines that carry a usage object or an error are decoded as JSON, one by one
    (a zero-delay server sends a whole answer, usage included, in one read). A data line that
    cannot be a JSON object (it does not end in ``}``) ends the stream as an error: the engine's
    output is broken. Counting line starts against line ends finds one without a regex pass.
    """
    bad = _malformed(lines)
    if bad is not None:
        record.error = _short(f"malformed event in the stream: {bad.group(0).decode('utf-8', 'replace')}")
        return True
    special = _special_lines(lines)
    tokens = len(_TOKEN_LINE.findall(lines)) - sum(1 for line in special if _TOKEN_LINE.search(line))
    if tokens:
        if record.first_token is None:
            record.first_token = now
        record.token_times.extend([now] * tokens)  # one float object shared by the read's tokens
    for line in special:
        if _event(line, now, record):
            return True
    return _done(lines)


# Non-empty text in a completions ``text`` or a chat delta's content/reasoning: one per token line
# (a delta carries content or reasoning, not both). No line anchor: an anchored lazy scan costs
# five times more, and an escaped quote inside a string can never form ``"content"``, so text that
# quotes a key does not fool it.
_TOKEN_LINE = re.compile(rb'"(?:text|content|reasoning_content|reasoning)"\s*:\s*"(?!")')
_SLOW_LINE = re.compile(rb'"usage"\s*:\s*\{|"error"')
_DONE = re.compile(rb"data:\s*\[DONE\]")


def _special_lines(lines: bytes) -> list[bytes]:
    """The whole lines that carry a usage object or an error. ``bytes.find`` locates candidates (a
    memchr-speed scan; a regex over every byte of a read costs more than the rest of the parse)."""
    found: list[bytes] = []
    pos = 0
    while True:
        at = min((i for i in (lines.find(b'"usage"', pos), lines.find(b'"error"', pos)) if i >= 0), default=-1)
        if at < 0:
            return found
        end = lines.find(b"\n", at)
        end = len(lines) if end < 0 else end
        if _SLOW_LINE.match(lines, at):
            found.append(lines[lines.rfind(b"\n", 0, at) + 1:end])
            pos = end
        else:
            pos = at + 1


def _done(lines: bytes) -> bool:
    """A ``data: [DONE]`` line among ``lines``."""
    at = lines.find(b"[DONE]")
    while at >= 0:
        begin = lines.rfind(b"\n", 0, at) + 1
        if _DONE.fullmatch(lines, begin, at + 6):
            return True
        at = lines.find(b"[DONE]", at + 6)
    return False


# A data line, neither empty nor [DONE], whose last non-blank character is not "}" (the atomic group
# finds that character once per line, without backtracking over the line again).
_MALFORMED = re.compile(rb"^data:(?![ \t]*\[DONE\][ \t]*\r?$)(?>[^\n\r]*[^\s}])[ \t]*\r?$", re.M)


def _malformed(lines: bytes) -> re.Match | None:
    """The first data line that cannot be a JSON object, if any. Counting line ends first keeps the usual
    read (every data line ends in "}"; JSON text holds no raw newline) free of a regex scan."""
    data_lines = lines.count(b"\ndata:") + lines.startswith(b"data:")
    if lines.count(b"}\n") + lines.count(b"}\r\n") >= data_lines - lines.count(b"[DONE]"):
        return None
    return _MALFORMED.search(lines)

def _event(line: bytes, now: float, record: RequestRecord) -> bool:
    """Handle one SSE line; True at the end of the stream (``[DONE]`` or an error)."""
    line = line.strip()
    if not line.startswith(b"data:"):
        return False  # blank separators, comments, "event:"/"id:" fields
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return True
    chunk = loads(payload)
    if not isinstance(chunk, dict):
        return False
    if "error" in chunk or chunk.get("object") == "error":
        error = chunk.get("error", chunk)
        message = error.get("message", error) if isinstance(error, dict) else error
        record.error = _short(f"error in stream: {message}")
        return True
    usage = chunk.get("usage")
    if usage:
        _usage(usage, record)
    for choice in chunk.get("choices") or ():
        if _text(choice):
            if record.first_token is None:
                record.first_token = now
            record.token_times.append(now)
            break
    return False


def _text(choice: dict) -> str:
    """The text a chunk carries: completions ``text``, or a chat delta's content (or reasoning)."""
    text = choice.get("text")
    if text:
        return text
    delta = choice.get("delta") or choice.get("message") or {}
    return delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning") or ""


def _usage(usage: dict, record: RequestRecord) -> None:
    if isinstance(usage.get("prompt_tokens"), int):
        record.input_tokens = usage["prompt_tokens"]
    if isinstance(usage.get("completion_tokens"), int):
        record.output_tokens = usage["completion_tokens"]


def _whole(body: Any, record: RequestRecord) -> None:
    now = time.perf_counter()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    if "error" in body:
        record.error = _short(f"error: {body['error']}")
        return
    if any(_text(c) for c in body.get("choices") or ()):
        record.first_token = now
        record.token_times.append(now)
    if body.get("usage"):
        _usage(body["usage"], record)
