"""Peer adapters: POHODA mServer and the e-shop, each behind the same small interface."""
