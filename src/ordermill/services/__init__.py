"""Use cases applied to the database. Services flush, never commit: the entry point does."""
