"""The event history: what was read, kept on the device with its images.

``store`` keeps the events (``History``; ``opening`` opens it: ``open_history``), ``retention``
holds its bounds and is the only code that deletes, ``clock_steps`` moves their times with the
wall clock's steps, ``queries`` searches them, ``images`` makes their JPEGs and ``config`` is the
``history`` config section.  This package imports none of them itself: the
config loads ``history.config`` alone, without SQLite, numpy or Pillow.
"""
