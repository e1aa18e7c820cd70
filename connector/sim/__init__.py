"""Loopback simulators of POHODA mServer and of the e-shop, with fault injection.

Used by `connector demo` and by the tests; never by production code paths. The simulators
are the public modules `connector.sim.pohoda`, `connector.sim.eshop` and `connector.sim.sandbox`.
"""

__all__: list[str] = []
