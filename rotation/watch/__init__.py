"""The watchdog: a cron-triggered action that finds what no rotation run reports.

A rotation alerts from inside its own run (:mod:`rotation.notify`); when nothing runs (the
trigger unlinked, the action deleted, auto rotation switched off, a job left running or
failed and forgotten) nobody hears. The watchdog sweeps the fleet on a schedule with the
verdicts of ``python -m rotation status`` (:mod:`rotation.verdicts`), alerts each new
problem once and reminds at an interval, starts windowed rotations inside their window,
and may push its counts to Cloud Insight.

``config`` its settings, ``windows`` rotation windows, ``sweep`` the reading and judging,
``memory`` what earlier runs reported, ``alerts`` what it sends, ``metrics`` Cloud
Insight's records, ``action`` the entry point (``watch`` in the zip's ``__main__.py``).
"""
