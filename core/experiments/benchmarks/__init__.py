"""Speed benchmarks: each prints images/s of ours and of a baseline run in the same process, and the ratio."""
