"""Storage: an in-memory store for the dispatch core and SQL stores for the service."""
