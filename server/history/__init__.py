"""The doodle history: every finished drawing kept, shown and exported.

* :mod:`server.history.store`: the database (``DoodleStore``; SQLite by default) and the
  read-only ``DoodleReader`` the gallery uses.
* :mod:`server.history.service`: ``HistoryService`` decides what is kept and when;
  answers ``submit`` and ``sprite``.
* :mod:`server.history.gallery`: gallery pages (``templates/``, ``static/``), JSON API
  and pictures over HTTP.
* :mod:`server.history.sprite`: drawings -> sprite PNGs and thumbnails.
* :mod:`server.history.export`: ``python -m server.history.export``, the history as
  Quick, Draw! raw ndjson.
* :mod:`server.history.feature`: ``DoodleHistory``, the feature that installs it all.
"""
