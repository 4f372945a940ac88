"""The audit trail's integrity: the hash chain per partition, its checkpoints, and `audit verify`."""
