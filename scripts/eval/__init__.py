"""Evaluation and selection: evaluate.py on the dev splits, candidate selection, calibration, runtime parity."""
