"""The explorer: seeded fault schedules, run in process (``python -m reliability explore``).

Beside the hand-written fault matrix (``reliability/matrix.py``: a few hundred scenarios,
each in its own processes against real databases), the explorer draws its schedules from
a seed, in the spirit of deterministic simulation testing: thousands of them a minute,
each a rotation and its retries under 1-4 faults, every one replayable with its story::

    explorer: 10000 schedules, 0 invariant violations, 0 jobs left silent,
    0 not converging, 0 crashes, 0 leaks (seeds 1..10000)

Modules: ``schedule`` (what a seed draws), ``world`` (one schedule's steps and faults),
``secretmanager`` (the emulator's Secret Manager reached in process), ``database`` (the
product's database target on a simulated server), ``baton`` (invocations taking turns),
``clock`` (simulated time), ``invariant`` (checked after every step), ``invocation``
(``handler.main`` and what is swapped around it), ``run`` (one schedule and its checks),
``variant`` (broken stand-ins for the explorer's own tests), ``report`` and ``cli``.
"""
