"""Settings: the typed, frozen configuration and everything that checks it before a run starts.

``settings`` reads TOML (``./arbscan.toml`` by default) into :class:`~arbscan.config.settings.Settings`
with secrets from the environment; ``values`` holds the value parsers every section shares (each
names its key); ``alerts``, ``bus`` and ``transfer`` are the ``[[alerts]]``, ``[bus]`` and
``[venues.transfer]`` sections; ``checks`` are the cross-checks of ``check-config`` (can the settings
mean what they say); ``starter`` writes the commented starter file of ``arbscan init``.

Layer: above the domain core (``arbscan.model``, ``spread``, ``errors``, ``booksanity``) and
``arbscan.funding``, whose value types settings produce. Imports nothing higher; ``checks`` reads
``adapters``' table of native venues.
"""
