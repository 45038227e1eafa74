"""A zoo of evaluation metrics written the way people write them (TorchMetrics' functional code,
scikit-learn's definitions, PyTorch tutorials and notebooks), each held to its own eager value by
``tests/test_zoo.py``, and the constructs that must be refused (``refusals.py``).

``catalog.ZOO`` lists every metric; ``python -m tests.zoo.render_catalog > docs/zoo.md``
regenerates the page that lists what compiles.
"""
