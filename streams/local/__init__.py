"""The embedded local stack (Tansu, SeaweedFS) of `make run` and the tests, its supervisor and the demo."""
