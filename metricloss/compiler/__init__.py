"""The compiler: a metric's evaluation code in, an immutable compiled metric out."""
