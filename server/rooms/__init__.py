"""Rooms (protocol v1.2): friends draw and guess together, and the AI guesses as one more player.

* :mod:`server.rooms.text`: names and guesses fit to show others, and how guesses compare.
* :mod:`server.rooms.codes`: room codes (short, said aloud, unguessable) and rejoin keys.
* :mod:`server.rooms.room`: one room's game, Sans-I/O (effects out, a clock in).
* :mod:`server.rooms.directory`: the open rooms by code, with the per-address limits.
* :mod:`server.rooms.errors`: the feature's ``error`` codes.
"""
