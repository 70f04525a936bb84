"""Benchmarks of issue 9: ratios measured side by side in one run (`make bench`)."""
