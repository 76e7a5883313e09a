"""The SQLite journal: its schema and migrations, the batched store and its writer, the file itself.

``schema`` holds the migrations, the column lists of the execution tables, statuses and how a value
is stored; ``store`` is the batched writer (sqlite-utils over one WAL database), ``writer`` the
thread that commits its batches; ``tables`` turns the scanner's records into rows for every kind of
store; ``file`` says in one line why a path cannot be used and finds runs whose process died.

Layer: above ``config``, ``funding`` and the domain core; below everything that writes or reads
rows (scan, replay, execution, report, parallel, bus). It imports none of them.
"""
