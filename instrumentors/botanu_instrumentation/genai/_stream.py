"""The one stream proxy every botanu LLM instrumentor uses.

A vendor stream (openai/anthropic ``Stream`` / ``AsyncStream``) is handed to the app inside
a transparent ``wrapt.ObjectProxy``: ``isinstance``, attributes, ``with`` / ``async with``,
``close()``, ``.response`` and the SDKs' helper streams built on top (``text_stream``,
``get_final_message``, ``get_final_completion``) behave as without botanu. The proxy
forwards each event to a :class:`StreamRecorder` as it passes (nothing is buffered) and
ends the call span exactly once, whichever comes first: the stream is exhausted, fails,
is closed (also through ``stream.response.close()``, which the SDK helpers use), is left
by ``with``, or is garbage-collected half read. No context is attached while it is open,
so reading it in another thread or task is fine.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING, Any

import wrapt

from .._guard import report_failure

if TYPE_CHECKING:  # _call imports this module
    from ._call import Adapter, Call


class StreamRecorder:
    """Reads a stream's events for the span; vendors override :meth:`item` and :meth:`complete`."""

    __slots__ = ("call",)

    def __init__(self, call: Call) -> None:
        self.call = call

    def item(self, item: Any) -> bool:
        """Note one event; False hides it from the app (an event botanu asked for itself)."""
        return True

    def complete(self) -> None:
        """Move what the events said into ``call.attributes`` (called once, at the end)."""

    def finish(self, error: BaseException | None = None) -> None:
        call = self.call
        if call.ended:
            return
        try:
            self.complete()
        except Exception:
            report_failure("gen_ai stream end")
        call.end(error)


def _observe(recorder: StreamRecorder, item: Any) -> bool:
    try:
        return recorder.item(item)
    except Exception:
        report_failure("gen_ai stream event")
        return True


class _ClosingResponse(wrapt.ObjectProxy):  # type: ignore[misc]
    """The stream's HTTP response: closing it (as the SDK helpers do) ends the span."""

    def __init__(self, wrapped: Any, recorder: StreamRecorder) -> None:
        super().__init__(wrapped)
        self._self_recorder = recorder

    def close(self) -> Any:
        self._self_recorder.finish()
        return self.__wrapped__.close()

    async def aclose(self) -> Any:
        self._self_recorder.finish()
        return await self.__wrapped__.aclose()


class _ProxyBase(wrapt.ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, recorder: StreamRecorder) -> None:
        super().__init__(wrapped)
        self._self_recorder = recorder
        self._self_response: Any = None

    @property
    def response(self) -> Any:
        if self._self_response is None:
            self._self_response = _ClosingResponse(self.__wrapped__.response, self._self_recorder)
        return self._self_response

    def __del__(self) -> None:
        # Abandoned half read: the span still ends (as it would have with the app's own code).
        with contextlib.suppress(Exception):
            self._self_recorder.finish()


class StreamProxy(_ProxyBase):
    """A synchronous vendor stream, observed."""

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        recorder = self._self_recorder
        wrapped = self.__wrapped__
        while True:
            try:
                item = wrapped.__next__()
            except StopIteration:
                recorder.finish()
                raise
            except BaseException as error:
                recorder.finish(error)
                raise
            if _observe(recorder, item):
                return item

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        self._self_recorder.finish()
        return self.__wrapped__.__exit__(*exc_info)

    def close(self) -> Any:
        self._self_recorder.finish()
        return self.__wrapped__.close()


class AsyncStreamProxy(_ProxyBase):
    """An asynchronous vendor stream, observed."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        recorder = self._self_recorder
        wrapped = self.__wrapped__
        while True:
            try:
                item = await wrapped.__anext__()
            except StopAsyncIteration:
                recorder.finish()
                raise
            except BaseException as error:
                recorder.finish(error)
                raise
            if _observe(recorder, item):
                return item

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._self_recorder.finish()
        return await self.__wrapped__.__aexit__(*exc_info)

    async def close(self) -> Any:
        self._self_recorder.finish()
        return await self.__wrapped__.close()

    async def aclose(self) -> Any:
        self._self_recorder.finish()
        return await self.__wrapped__.aclose()


def proxy_stream(stream: Any, recorder: StreamRecorder, asynchronous: bool) -> Any:
    return AsyncStreamProxy(stream, recorder) if asynchronous else StreamProxy(stream, recorder)


class RawResponseProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """A raw API response whose body is not read yet (``with_streaming_response``, raw streams).

    ``parse()`` hands the span to the stream it returns, or records the parsed result;
    ``close()`` or dropping the response ends the span.
    """

    def __init__(self, wrapped: Any, adapter: Adapter, call: Call, options: Any, asynchronous: bool) -> None:
        super().__init__(wrapped)
        self._self_adapter = adapter
        self._self_call = call
        self._self_options = options
        self._self_async = asynchronous
        self._self_handed = False

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        result = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(result):
            return self._self_parsed_later(result)
        return self._self_take(result)

    async def _self_parsed_later(self, pending: Any) -> Any:
        return self._self_take(await pending)

    def _self_take(self, result: Any) -> Any:
        call = self._self_call
        if call.ended or self._self_handed:
            return result
        try:
            if hasattr(result, "response") and hasattr(
                type(result), "__anext__" if self._self_async else "__next__"
            ):
                self._self_handed = True
                recorder = self._self_adapter.recorder(call, self._self_options)
                return proxy_stream(result, recorder, self._self_async)
            self._self_adapter.record(call, result)
        except Exception:
            report_failure("gen_ai raw response")
        call.end()
        return result

    def close(self) -> Any:
        if not self._self_handed:
            self._self_call.end()
        return self.__wrapped__.close()

    def __del__(self) -> None:
        try:
            if not self._self_handed:
                self._self_call.end()
        except Exception:
            pass
