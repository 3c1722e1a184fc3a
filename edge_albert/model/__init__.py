"""ALBERT model, configuration and Hugging Face-format checkpoint I/O."""
