"""Validation: metrics, latency, reports and the CI regression gate."""
