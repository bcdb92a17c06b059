"""Evaluation: CCC as AVEC computes it, post-processing, reports and `evaluate_run`."""
from emorec.evaluation.ccc import ccc, ccc_per_dimension  # noqa: F401
from emorec.evaluation.evaluate import evaluate_run  # noqa: F401
