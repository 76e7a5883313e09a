"""Replay files: the format (reader, writer, lines), running a file through the scanner, recording.

``lines`` parses and checks one line of the JSON Lines format (ARCHITECTURE.md, "Replay file");
``reader`` reads a file (gzip or plain) naming a malformed line by its number; ``writer`` writes
one (snapshots, then deltas) and is the listener ``arbscan record`` uses; ``run`` drives a file
through a scanner on the file's own clock.

Layer: beside ``scan`` (a replay runs the scanner), ``execution``, ``report``; above ``journal``,
``config``, ``funding`` and the domain core.
"""
