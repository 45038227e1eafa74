"""The reference trainings: the loop, checkpoints, logs and plots, the comparison of two losses,
the ``Task`` type, and the tasks' datasets and models.

They sit apart from the compiler and the loss, which they use as any user's training code would:
``UniLoss``, the metrics and the tasks through ``import metricloss``, and its errors from
``metricloss.errors``. The one piece they take from inside the loss is ``metricloss.loss.gather``
(every process's batch, and the device collectives run on), so that under torchrun the usual
loss's batch metric and the evaluation see the whole batch as ``UniLoss(gather=True)`` does. One
module per concern:

- ``task``: what a task is (data, model, scores, baseline, settings), and ``get_task``;
- ``config``: a run's settings, resolved from the caller's options and the task's defaults;
- ``run``: the live objects of a run (model, optimiser, generators), built from its seed;
- ``loop``: ``train``, the epoch loop;
- ``steps``: one epoch's batches (``training_batches``), one optimiser step (``train_step``), an
  epoch of them (``train_epoch``);
- ``evaluation``: the exact metric of the trained model over a whole split;
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
