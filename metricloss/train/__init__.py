"""The reference trainings: the loop, checkpoints, logs and plots, the comparison of two losses,
the ``Task`` type, and the tasks' datasets and models.

They sit apart from the compiler and the loss, which they use only through ``import metricloss``,
as any user's training code would; one module per concern:

- ``task``: what a task is (data, model, scores, baseline, settings), and ``get_task``;
- ``config``: a run's settings, resolved from the caller's options and the task's defaults;
- ``run``: the live objects of a run (model, optimiser, generators), built from its seed;
- ``loop``: ``train``, the epoch loop;
- ``checkpoints``: saving, loading and resuming, bit for bit;
- ``run_folder``: the run's folder checked, locked to one run, and never silently full;
- ``distributed``: several processes under torchrun: shards, one writer, exact resumption;
- ``logs``: per-epoch CSV and JSON lines, the curves plot, the line printed per epoch;
- ``atomic``: files replaced whole, so a killed run leaves nothing half-written;
- ``progress``: the progress bar;
- ``compare``: the baseline against UniLoss over seeds (``metricloss compare``);
- ``demo``: ``metricloss demo``;
- ``datasets``, ``models``: the tasks' data readers and networks.
"""
