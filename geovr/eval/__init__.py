"""Evaluation: the VSI-Bench scorer (vsi.py), geometry probe metrics (geometry.py) and the
HTML report (report.py)."""
