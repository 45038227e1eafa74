"""The metrics metricloss ships, declared with the public decorator and found through entry points.

Nothing here is imported by ``metricloss`` itself: ``pyproject.toml`` names each metric under the
``metricloss.metrics`` entry-point group, exactly as a third-party package would.
"""
