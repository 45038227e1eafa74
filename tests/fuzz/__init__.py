"""A grammar of metric programs written as evaluation code, for fuzzing the compiler
(``tests/test_fuzz_compiler.py``): each program is real Python source, imported from a file as a
user's module is, with random tie-heavy inputs to hold its compiled value to its eager one."""
