"""The fault matrix as part of the product: ``make reliability`` (``python -m reliability``).

Hundreds of scenarios, each a real rotation (``handler.main`` in its own process, as the
runtime runs it) against the emulator and a real database, with one thing going wrong:
a Secret Manager fault at one call, kill -9 at one step, two invocations of one job,
another writer changing pending, a database that goes away or refuses. After each, the
invariant of DESIGN.md is checked on the real systems, and one summary line counts what
broke it::

    reliability: 288 scenarios, 0 credentials lost, 0 jobs left running without
    leftForRetry, 0 retries not converging, 0 leaks, 0 crashes

Modules: ``matrix`` (the scenarios), ``harness`` (one scenario run), ``checks``,
``action`` (the killable action process), ``proxy`` (database faults on the wire),
``databases`` (what a server accepts), ``servers`` (throwaway PostgreSQL clusters, shared
with the test suite), ``report`` (the summary and the failure table).
"""
