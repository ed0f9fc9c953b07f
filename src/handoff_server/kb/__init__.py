"""Knowledge base: loading, validating and indexing."""
