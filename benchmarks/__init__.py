"""metricloss's benchmark suite, run as ``metricloss bench [--quick] [--device cpu|cuda] [--json PATH]``.

Installed as ``metricloss_benchmarks`` (this folder, mapped in ``pyproject.toml``). Every table
measures its functions side by side in one run and reports ratios (absolute times only as
context): a. the loss against the usual loss; b. a training step with each; c. a per-pair loop
reference; d. the floor of relaxing the comparisons alone; e. scaling with the number of binaries;
f. compile times; g. metrics as users write them; h. the exact value at validation sizes against
scikit-learn and the eager function; i. every metric of the zoo (``tests/zoo``, read from the
repository checkout) against its own floor, with its aten ops and host synchronisations per call.
``suite.run`` runs them; docs/performance.md explains them.
"""
