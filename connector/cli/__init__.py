"""`connector …`: the only place that reads argv and prints for people.

Each command is a thin layer over a library call. Exit codes: 0 ok, 1 the work failed
(some records refused, a peer unreachable), 2 usage, configuration or input error.
"""

from connector.cli._main import main, root

__all__ = ["main", "root"]
