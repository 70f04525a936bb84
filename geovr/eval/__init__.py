"""Evaluation: the VSI-Bench scorer (vsi.py), answering under the official protocol
(answering.py), geometry probes (probing.py runs the heads, probes.py and geometry.py score
them), train/eval leakage (leakage.py) and the HTML report (report.py)."""
