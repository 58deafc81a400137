"""Memory fit: the estimate, verdicts and recommendations, calibration and reports."""
