"""The stream processing of a worker: agents, the service that carries out the rules' decisions, and
what it drives (re-keying, scheduler, deleter, legal holds, erasure commands, sweep, outbox, read model)."""
