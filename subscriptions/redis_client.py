"""How every Redis client of the platform is made: bounded connects and reads, idle pooled
connections checked before use, at most one reconnect per command; imports no domain.

redis-py's defaults wait forever on a read (no ``socket_timeout``) and retry a failed or
timed-out command ten times: behind a blackhole (packets dropped, the connection still
open) one command then never returns, or takes a minute. Every client here fails a command
within about ``SOCKET_TIMEOUT_S`` (twice that when its connection was reset and the one
retry also hangs) so callers see an error they handle instead of a stall.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

SOCKET_CONNECT_TIMEOUT_S = 2.0
# a command's reply; above the relay's XREAD / XREADGROUP BLOCK of 1 s, with margin
SOCKET_TIMEOUT_S = 3.0
HEALTH_CHECK_INTERVAL_S = 10.0  # a pooled connection idle longer is PINGed before use


def retry_policy() -> Retry:
    """One quick reconnect after a broken connection (a Redis restart, a reset); never a
    retry after a timeout (a blackhole would multiply the wait)."""
    return Retry(
        ExponentialWithJitterBackoff(base=0.05, cap=0.5), 1,
        supported_errors=(RedisConnectionError,),
    )  # fmt: skip


def client_options(**overrides: Any) -> dict[str, Any]:
    """The keyword arguments of every Redis client (``overrides`` win)."""
    return {
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry": retry_policy(),
        **overrides,
    }


def redis_client(url: str, **overrides: Any) -> Redis:
    """A ``redis.asyncio`` client for ``url`` with the options above."""
    return Redis.from_url(url, **client_options(**overrides))
