"""Labs: a user's own pair of classifiers and image folder, under the same engine (docs/labs.md)."""
