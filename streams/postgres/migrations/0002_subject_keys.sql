-- Crypto-shredding (streams/protection/): audit records written from this version on carry their
-- personal fields encrypted under the keys of their data subjects; the archive learns the keys from
-- the `subject-keys` table's changelog. A destroyed key's row keeps no key and no kid: its records
-- can no longer be opened, nor found from the subject.

CREATE TABLE subject_keys (
    name text PRIMARY KEY,  -- partition/subject/ref, as in the worker's table
    partition integer NOT NULL,
    subject text NOT NULL,  -- customer or hold
    ref text NOT NULL,  -- the customer's pseudonym, or the hold id
    kid text,  -- NULL once destroyed
    key text,  -- base64; NULL once destroyed
    case_ref text,  -- a hold's case reference, as a pseudonym
    created_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,  -- readers ignore a key past it, destroyed or not
    ended_at timestamptz,
    topic_offset bigint NOT NULL
);
CREATE INDEX subject_keys_by_kid ON subject_keys (kid) WHERE kid IS NOT NULL;
CREATE INDEX subject_keys_by_ref ON subject_keys (subject, ref);
CREATE INDEX subject_keys_by_case ON subject_keys (case_ref) WHERE case_ref IS NOT NULL;

ALTER TABLE audit_records ADD COLUMN customer_kid text, ADD COLUMN hold_kid text;
CREATE INDEX audit_records_by_customer_kid ON audit_records (customer_kid, occurred_at, audit_id)
    WHERE customer_kid IS NOT NULL;
CREATE INDEX audit_records_by_hold_kid ON audit_records (hold_kid) WHERE hold_kid IS NOT NULL;

-- Who read which personal data through the API (streams/api/access_log.py), for auditors; forgotten
-- ACCESS_LOG_RETENTION after the read (schedule row S7).
CREATE TABLE access_log (
    access_id uuid PRIMARY KEY,
    at timestamptz NOT NULL,
    identity text NOT NULL,
    role text NOT NULL,
    unit text,
    client text NOT NULL,
    method text NOT NULL,
    endpoint text NOT NULL,
    read jsonb NOT NULL,  -- the path's parameters: what was read; a customer id as its pseudonym
    query jsonb NOT NULL,  -- the query's parameters, apart (one may not stand in for what was read)
    status integer NOT NULL,
    topic_partition integer NOT NULL,
    topic_offset bigint NOT NULL,
    forget_at timestamptz NOT NULL
);
CREATE INDEX access_log_by_time ON access_log (at, access_id);
CREATE INDEX access_log_by_identity ON access_log (identity, at);
CREATE INDEX access_log_by_customer ON access_log ((read ->> 'customer_id'), at) WHERE read ? 'customer_id';
CREATE INDEX access_log_by_forget_at ON access_log (forget_at);
