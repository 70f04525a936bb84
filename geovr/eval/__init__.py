"""Evaluation: the VSI-Bench scorer (vsi.py), answering under the official protocol
(answering.py), geometry probes (probing.py runs the heads, probes.py and geometry.py score
them) and the HTML report (report.py). Train/eval leakage compares clip sets, so it lives with
the data (geovr/data/leakage.py)."""
