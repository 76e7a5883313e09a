"""Funding: can an asset move between venues, over which network, and what does that cost.

``facts`` holds the value types (a network's deposit and withdrawal facts, an asset's networks on a
venue, the book of them all) that adapters, settings and replay lines produce; ``transfers`` the
pure rules on top (is a route's inventory transferable, the transfer cost, the net after transfer).

Layer: just above the domain core (``arbscan.model``, ``errors``): settings and adapters build these
values, so this package imports nothing but the domain core.
"""
