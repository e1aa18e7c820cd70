"""Loopback simulators of POHODA mServer and of the e-shop, with fault injection.

Used by `connector demo` and by the tests; never by production code paths.
"""
