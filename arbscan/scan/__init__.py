"""The scanner: books in, live routes, episodes and the route funnel out.

``scanner`` holds the latest book per (venue, symbol) and runs the three steps of each book event
(ARCHITECTURE.md, "Scanner semantics"), deciding each route with ``arbscan.spread``; ``episodes``
and ``expiry`` are the open episodes and step 1 (stale books close them); ``records`` are the rows
it journals (episodes, funnels, feed statistics) and ``stats`` counts them as it goes; ``feeds``
drives the live venues' book streams into a scanner; ``view`` is what a person sees while a run
goes (the status view, progress, log lines).

Layer: beside ``replay``, ``execution``, ``report``, ``alerts``; above ``journal``, ``config``,
``funding`` and the domain core. It never imports execution, the parallel or bus roles, or the CLI.
"""
