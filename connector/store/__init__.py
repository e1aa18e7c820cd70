"""The store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL.

`open_engine` is the one place that opens a database; every table set (sync state, carts)
takes the engine it returns.
"""

from connector.store._engine import open_engine

__all__ = ["open_engine"]
