"""Execution: one paired trade's lifecycle, paper or live, and the risk around it.

``strategy`` decides which opportunities a strategy takes and how big; ``trades`` is the one
lifecycle (plan, intents journaled, two IOC legs, settle, imbalance policy, outcome); ``orders``
is the order state table every leg moves through; ``journal`` the one interface that writes the
execution rows; ``executor`` a strategy as a scanner listener; ``paper`` and ``live`` the two venues
behind the legs (simulated fills, or the real adapters); ``reconcile`` finds orders whose outcome is
unknown; ``risk`` holds the limits and the kill switch; ``summary`` reads a run's results back.

Layer: beside ``scan``, ``replay``, ``report``, ``alerts``; above ``journal``, ``config``, ``funding``
and the domain core. It never imports the scanner, the parallel or bus roles, or the CLI.
"""
