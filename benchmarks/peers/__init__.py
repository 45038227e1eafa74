"""``metricloss peers``: UniLoss beside the usual loss and established surrogates for the same
metric (LibAUC's AUC-M and AP losses, the Lovász hinge), on bundled imbalanced data, over seeds
and a learning-rate grid chosen on validation. ``command.py`` is the entry point; docs/results.md,
section Peers, has the reference run. ``ranking.py`` holds published learning-to-rank losses
(ListNet, ApproxNDCG, NeuralNDCG, LambdaLoss) for batches of padded queries, written from their
papers; no method of the table uses them yet."""
