"""The ``arbscan`` command: argparse, logging, and one module per command's own output.

``command`` is the entry point (:func:`main`: the parser, the dispatch, the exit codes); ``args``
holds the shared parts of the command line (the common flags, argument types, logging set-up);
``status``, ``markets``, ``check_config`` and ``rebalance`` print what their commands show.

Layer: the top. It may import every other layer; nothing imports it but ``python -m arbscan.cli``.
"""

from arbscan.cli.command import main

__all__ = ["main"]
