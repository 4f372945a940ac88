-- The archive: what the projector (streams/projector/) copies from the topics, for the API, the
-- dashboard and the data protection officer. Every row has `forget_at`, the moment the projector
-- removes it (its own retention schedule, as the topics it comes from have theirs); states live as
-- long as the stream keeps them (a tombstone on the changelog removes the row).

-- Where the projector has got to in each topic partition: written in the same transaction as the rows
-- it read, so it resumes exactly where it stopped.
CREATE TABLE projector_positions (
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- How far behind the projector is (records on its topics not yet archived), as it last measured it
-- against its own fetches: what the dashboard shows. One row.
CREATE TABLE projector_status (
    id integer PRIMARY KEY CHECK (id = 1),
    lag_records bigint NOT NULL,
    caught_up boolean NOT NULL,
    measured_at timestamptz NOT NULL
);

-- Every decision and outcome on the audit topic, as written (with its chain hashes), by audit_id: a
-- crash may publish a record twice, the archive keeps it once.
CREATE TABLE audit_records (
    audit_id uuid PRIMARY KEY,
    type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    alarm_id text,
    customer_id text,
    hold_id text,
    case_reference text,  -- of hold.accepted records (the police's case), for "every hold in case Y"
    rule text,
    deadline timestamptz,
    record jsonb NOT NULL,
    topic_partition integer NOT NULL,
    topic_offset bigint NOT NULL,
    forget_at timestamptz NOT NULL  -- occurred_at + AUDIT_RETENTION
);
-- (key, occurred_at, audit_id): the order and the cursor of the archive's pages (archive_reader.py)
CREATE INDEX audit_records_by_customer ON audit_records (customer_id, occurred_at, audit_id) WHERE customer_id IS NOT NULL;
CREATE INDEX audit_records_by_alarm ON audit_records (alarm_id, occurred_at, audit_id) WHERE alarm_id IS NOT NULL;
CREATE INDEX audit_records_by_hold ON audit_records (hold_id, occurred_at) WHERE hold_id IS NOT NULL;
CREATE INDEX audit_records_by_case ON audit_records (case_reference) WHERE case_reference IS NOT NULL;
CREATE INDEX audit_records_by_type ON audit_records (type, occurred_at);
-- The reconciliation sweep's findings about objects of no known alarm, by sweep.
CREATE INDEX audit_records_by_sweep ON audit_records ((record -> 'details' ->> 'sweep_id'))
    WHERE alarm_id IS NULL AND customer_id IS NULL;
CREATE INDEX audit_records_by_forget_at ON audit_records (forget_at);

-- Each alarm's latest state, from the alarms table's changelog.
CREATE TABLE alarm_states (
    alarm_id text PRIMARY KEY,
    partition integer NOT NULL,
    customer_id text,
    pending integer NOT NULL,
    deleting integer NOT NULL,
    deleted integer NOT NULL,
    deadline timestamptz,  -- of the pending media
    oldest_deleting_due timestamptz,
    held boolean NOT NULL,
    hold_ids text[] NOT NULL,  -- every hold of the alarm, active or not: which alarm a hold is on
    state jsonb NOT NULL,
    topic_offset bigint NOT NULL
);
CREATE INDEX alarm_states_by_customer ON alarm_states (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX alarm_states_by_deadline ON alarm_states (deadline) WHERE deadline IS NOT NULL;
CREATE INDEX alarm_states_held ON alarm_states (partition) WHERE held;
CREATE INDEX alarm_states_by_hold ON alarm_states USING gin (hold_ids);

-- Each customer's erasure schedule, from the customers table's changelog.
CREATE TABLE customer_records (
    customer_id text PRIMARY KEY,
    partition integer NOT NULL,
    open_erasures integer NOT NULL,
    unconfirmed_erasures integer NOT NULL,
    record jsonb NOT NULL,
    topic_offset bigint NOT NULL
);

-- Answers to customers' requests (they list the customer's media: personal data).
CREATE TABLE request_answers (
    request_id text PRIMARY KEY,
    customer_id text NOT NULL,
    kind text NOT NULL,
    answered_at timestamptz NOT NULL,
    answer jsonb NOT NULL,
    forget_at timestamptz NOT NULL  -- answered_at + TRANSIT_RETENTION, as their topic keeps them
);
CREATE INDEX request_answers_by_forget_at ON request_answers (forget_at);

-- Dead letters: where each came from and why, never the producer's bytes (personal data, kept only on
-- the dead-letter topic, for DEADLETTER_RETENTION).
CREATE TABLE dead_letters (
    topic_partition integer NOT NULL,
    topic_offset bigint NOT NULL,
    source jsonb,  -- topic, partition, offset and timestamp of the record that failed
    reason text,
    dead_lettered_at timestamptz NOT NULL,
    forget_at timestamptz NOT NULL,  -- dead_lettered_at + DEADLETTER_RETENTION
    PRIMARY KEY (topic_partition, topic_offset)
);
CREATE INDEX dead_letters_by_time ON dead_letters (dead_lettered_at);
CREATE INDEX dead_letters_by_forget_at ON dead_letters (forget_at);
