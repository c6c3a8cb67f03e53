"""The HTTP face: a Plate Recognizer SDK-compatible API (bottle app on a cheroot server).

``app.py`` has the routes, ``request.py`` the parsing of uploads, ``fetch.py`` the optional
``upload_url`` fetch and ``server.py`` the threaded server, its wiring and ``edge-alpr serve``.
This package never imports ``stream/``: camera events reach delivery through the outbox.
"""
