"""structlog to stdout: readable on a terminal, one JSON object per line otherwise.

faust, aiokafka and botocore log through the standard library; their records go through the same
processors, so every line of a worker's output has one format.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, Literal

import orjson
import structlog

LogFormat = Literal["auto", "json", "console"]

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(log_format: LogFormat) -> Any:
    use_console = log_format == "console" or (log_format == "auto" and sys.stdout.isatty())
    if use_console:
        return structlog.dev.ConsoleRenderer()
    return structlog.processors.JSONRenderer()


def logging_dict_config(level: str = "INFO", log_format: LogFormat = "auto") -> dict[str, Any]:
    """A `logging.config.dictConfig` that renders standard-library records with structlog."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _SHARED,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _renderer(log_format),
                ],
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "structlog",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # Chatty at INFO and never about a decision of ours.
            "aiokafka": {"level": "WARNING"},
            "botocore": {"level": "WARNING"},
            "faust": {"level": "WARNING" if level == "INFO" else level},
            "mode": {"level": "WARNING" if level == "INFO" else level},
        },
    }


class _NamedBytesLogger(structlog.BytesLogger):
    """structlog's fast logger, remembering the module it logs for."""

    def __init__(self, name: str) -> None:
        super().__init__(sys.stdout.buffer)
        self.name = name


def _named_bytes_logger(*args: Any) -> _NamedBytesLogger:
    return _NamedBytesLogger(str(args[0]) if args else "")


def _add_logger_name(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.setdefault("logger", getattr(logger, "name", ""))
    return event


def _pseudonymising(pseudonym: Callable[[str], str]) -> Any:
    """A customer id never reaches a log line: its pseudonym (a keyed hash) stands in for it, so that
    the lines about one customer can still be found together by whoever holds PSEUDONYM_KEY."""

    def processor(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        customer = event.pop("customer_id", None)
        if customer is not None:
            event["customer"] = pseudonym(str(customer))
        return event

    return processor


def configure_logging(
    level: str = "INFO", log_format: LogFormat = "auto", pseudonym: Callable[[str], str] | None = None
) -> None:
    logging.config.dictConfig(logging_dict_config(level, log_format))
    hide = [_pseudonymising(pseudonym)] if pseudonym is not None else []
    if isinstance(_renderer(log_format), structlog.dev.ConsoleRenderer):
        structlog.configure(
            processors=[*_SHARED, *hide, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
        return
    # JSON lines: our own records skip the standard library (a tenth of a worker's time went into
    # its handlers when every decision is logged) and are rendered by orjson; faust's, aiokafka's and
    # botocore's records still come through the dictConfig above, in the same format.
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *hide,
            structlog.processors.add_log_level,
            _add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=_named_bytes_logger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        cache_logger_on_first_use=True,
    )
