"""Datasets: readers for TSV/CSV/JSONL files and the built-in default data (no torch needed)."""
