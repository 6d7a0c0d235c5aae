"""A Flax (nnx) port of OPT that matches Hugging Face token for token."""
