"""connector: keeps an e-shop's customers and POHODA's address book in step, both ways."""

import sys as _sys

__version__ = "0.1.0"

# Two libraries load a terminal UI whenever it happens to be installed, as it is here for our
# CLI: httpx its command-line client (click, rich, pygments; about 60 ms), structlog rich for
# pretty tracebacks. `connector serve` and the peer clients must not carry either, and our
# log events render exceptions as plain text (masked, see connector.log). Both libraries
# have a documented fallback for a missing extra, taken here by marking the module absent
# while they load.
if "httpx" not in _sys.modules:
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
if "structlog" not in _sys.modules and "rich" not in _sys.modules:
    _sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog as _structlog  # noqa: F401
    finally:
        del _sys.modules["rich"]

__all__ = ["__version__"]
