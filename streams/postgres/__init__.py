"""The PostgreSQL adapter: the archive's schema (migrations/), and reading and writing it."""
