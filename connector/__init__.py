"""connector: keeps an e-shop's customers and POHODA's address book in step, both ways."""

__version__ = "0.1.0"
