"""What the devstack's gRPC stand-ins share: a failure type that becomes a gRPC status, and a
unary handler built on a client library's own message types."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

log = logging.getLogger("devstack.grpc")


class RpcFailure(Exception):
    """Raised by an RPC implementation; the handler turns it into a gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unary(
    impl: Callable[[Any], Any], request_type: Any, serialize: Callable[[Any], bytes]
) -> grpc.RpcMethodHandler:
    """A unary handler that maps RpcFailure to its status and anything else to INTERNAL."""

    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return impl(request)
        except RpcFailure as exc:
            context.abort(exc.code, exc.message)
        except Exception as exc:
            log.exception("%s failed", getattr(impl, "__name__", impl))
            context.abort(grpc.StatusCode.INTERNAL, repr(exc))

    return grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=request_type.deserialize, response_serializer=serialize
    )


_T = TypeVar("_T")


def paginate(
    items: list[_T], page_size: int, page_token: str, default_size: int
) -> tuple[list[_T], str]:
    """One page of a list RPC; the token is the next offset ("" when there is no more)."""
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "bad page_token") from None
    end = start + (page_size if page_size > 0 else default_size)
    return items[start:end], (str(end) if end < len(items) else "")
