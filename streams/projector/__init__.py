"""The projector: a process of its own that copies the audit trail, the dead letters, the answers to
customers' requests and the tables' changelogs into PostgreSQL (the archive), for the API, the
dashboard and the data protection officer."""
