"""The mixer (CoverDrop's CoverNode): pulls the edge's queues, never listens.

``state`` is its durable SQLite state, ``keys`` its own key folder and rotation,
``alarm`` the pure detector of floods and withheld inputs,
``service`` the step that ties them to the edge.
"""
