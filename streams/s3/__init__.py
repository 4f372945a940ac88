"""The object store: the port, its S3 implementation and an in-memory one for unit tests."""
