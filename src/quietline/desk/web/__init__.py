"""The desk as a local web app (``quietline desk serve``): pages a recipient works in all
day, on loopback only, over the same vault and the same periodic step as ``desk run``.

``pseudonyms`` names sources without showing their keys, ``sessions`` decides who is
unlocked (pure, clock injected), ``pages`` turns the desk's state into what the pages
show (pure), ``app`` is the Starlette application and its security headers, ``server``
runs the desk's loop beside uvicorn.
"""
