"""Bundles: one zip with models, tokenizer, labels and a checksummed (optionally signed) manifest."""
