"""Result files: one schema each, read (and written) here; the numbers derived from them and the report
text.  Readers never run an experiment."""
