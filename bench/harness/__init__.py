"""What every measurement of `make bench` and `make soak` stands on, one concern a module.

    paths       where the bench reads and writes (build/bench, its logs and bodies)
    console     the one error type, log lines, and a run that stops what it started
    commands    subprocesses, and the tools installed when missing (wrk, pinned packages, the image)
    settings    what the environment asks of a run: servers, durations, image, MODELHOST_* tuning
    servers     a server under test on loopback: the naive baseline and `make run` on this host
    containers  the image in a container: its log, its memory, its application processes, its image's id
    bodies      the predict bodies wrk sends, written to files
    checks      a server's predictions against ``model.predict`` in this process
    wrk         one wrk run and the line bench/predict.lua prints
    tables      Markdown tables and latencies as the reports show them

The measurements (bench/throughput.py, image.py, rollout.py, protocols.py, soak.py) import these
modules and never one another; the harness imports no measurement.
"""
