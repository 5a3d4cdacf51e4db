"""Python client for doodlestream: the library (:mod:`replay_client.client`) and the replay CLI."""
