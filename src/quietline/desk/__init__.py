"""The desk: the recipients' client (a journalist, a case officer, a shared desk).

``state`` is what the vault holds, ``store`` keeps it in the vault under a file lock,
``service`` does the periodic work against the edge.
"""
