"""``metricloss peers``: UniLoss beside the usual loss and established surrogates for the same
metric (LibAUC's AUC-M and AP losses, the Lovász hinge; ListNet, ApproxNDCG, NeuralNDCG and
LambdaLoss for learning to rank), on bundled or generated data, over seeds and a learning-rate grid
chosen on validation. ``command.py`` is the entry point and ``options.py`` reads its options;
``problems.py`` and ``ltr_problem.py`` hold the problems, ``methods.py`` the methods (``lovasz.py``
and ``ranking.py`` the surrogates written from their papers), ``runner.py`` trains and chooses the
learning rates, ``report.py`` writes the outputs. docs/results.md, sections Peers and
Learning-to-rank peers, has the reference runs."""
