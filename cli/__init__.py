"""The ``tier0`` command line: serve, train, calibrate, kb, desk, agents, db, eval (:mod:`cli.main`)."""
