"""Venues through ccxt: ``parse`` (pure), ``errors`` (the one map), ``streams`` (watch and poll), ``adapter``.

``CcxtAdapter`` is imported from ``adapters.ccxt_adapter`` (the contract path) or ``adapters.ccxt.adapter``.
This package module imports nothing, so ``adapters.base`` can use ``adapters.ccxt.errors`` without ccxt.
"""
