-- A known plaintext sealed with the key of the first open; a process whose key cannot open it
-- refuses to start instead of failing later on every sealed secret.
CREATE TABLE seal_check (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB    NOT NULL
);
