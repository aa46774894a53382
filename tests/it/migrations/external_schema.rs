//! The memory tables as another application created them, before `backfill migrate`
//! ever ran: each backend's DDL with a few rows, loaded statement by statement.

use crate::support::Db;

use crate::support::*;

/// The external schema on PostgreSQL: arrays, `JSONB`, generated uuids.
pub(super) const PG_EXTERNAL_DDL: &str = r#"
CREATE TABLE l2_insights (id SERIAL PRIMARY KEY, content TEXT NOT NULL, embedding REAL[] NOT NULL,
    source_ids INTEGER[] NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW(), metadata JSONB,
    io_category TEXT, is_identity BOOLEAN DEFAULT FALSE, source_file TEXT, memory_strength FLOAT);
CREATE TABLE nodes (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), label TEXT NOT NULL, name TEXT NOT NULL,
    properties JSONB DEFAULT '{}', vector_id INTEGER REFERENCES l2_insights(id), created_at TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE (label, name));
CREATE TABLE edges (id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    source_id UUID NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    target_id UUID NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, relation TEXT NOT NULL,
    weight FLOAT DEFAULT 1.0, properties JSONB DEFAULT '{}', created_at TIMESTAMPTZ DEFAULT NOW(),
    modified_at TIMESTAMPTZ DEFAULT NOW(), last_accessed TIMESTAMPTZ DEFAULT NOW(), access_count INTEGER DEFAULT 0,
    last_engaged TIMESTAMPTZ, memory_sector VARCHAR(20) DEFAULT 'semantic', UNIQUE (source_id, target_id, relation));
CREATE TABLE working_memory (id SERIAL PRIMARY KEY, content TEXT NOT NULL, importance FLOAT DEFAULT 0.5,
    last_accessed TIMESTAMPTZ DEFAULT NOW(), created_at TIMESTAMPTZ DEFAULT NOW(), project_id VARCHAR(50));
CREATE TABLE episode_memory (id SERIAL PRIMARY KEY, query TEXT NOT NULL, reward FLOAT NOT NULL,
    reflection TEXT NOT NULL, embedding REAL[] NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE l0_raw (id SERIAL PRIMARY KEY, session_id TEXT NOT NULL, speaker TEXT NOT NULL, content TEXT NOT NULL,
    timestamp TIMESTAMPTZ DEFAULT NOW(), metadata JSONB, energy VARCHAR(20), state TEXT, location TEXT, intentions TEXT[]);
CREATE TABLE ground_truth (id SERIAL PRIMARY KEY, query TEXT NOT NULL, expected_docs INTEGER[] NOT NULL,
    judge1_model TEXT, judge2_model TEXT, kappa FLOAT, created_at TIMESTAMPTZ DEFAULT NOW(), metadata JSONB);
CREATE TABLE stale_memory (id SERIAL PRIMARY KEY, original_content TEXT NOT NULL, importance FLOAT NOT NULL,
    reason TEXT NOT NULL, content TEXT NOT NULL, archived_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE smf_proposals (id SERIAL PRIMARY KEY, trigger_type TEXT NOT NULL, proposed_action JSONB NOT NULL,
    affected_edges UUID[] NOT NULL, reasoning TEXT NOT NULL, approval_level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING', created_at TIMESTAMPTZ DEFAULT NOW(), resolved_at TIMESTAMPTZ, resolved_by TEXT);
CREATE TABLE ief_feedback (id SERIAL PRIMARY KEY, query_id UUID NOT NULL DEFAULT gen_random_uuid(),
    query_text TEXT NOT NULL, constitutive_weight_used FLOAT NOT NULL, helpful BOOLEAN, feedback_reason TEXT,
    result_count INTEGER, conflict_count INTEGER, created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE l2_insight_history (id SERIAL PRIMARY KEY, insight_id INTEGER NOT NULL REFERENCES l2_insights(id),
    action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, old_content TEXT, new_content TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW());

INSERT INTO l2_insights (content, embedding, source_ids, metadata, io_category, memory_strength) VALUES
    ('prefers tea', ARRAY[0.25, -0.5, 1.0]::real[], ARRAY[1, 2], '{"k": [1, 2]}', 'preference', 0.75),
    ('lives in Oslo', ARRAY[0.125]::real[], ARRAY[]::integer[], NULL, NULL, NULL);
INSERT INTO nodes (id, label, name, properties, vector_id) VALUES
    ('6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f', 'person', 'ada', '{"age": 36}', 1),
    ('0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'city', 'oslo', '{}', 2);
INSERT INTO edges (source_id, target_id, relation, weight) VALUES
    ('6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f', '0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'LIVES_IN', 0.9);
INSERT INTO working_memory (content, importance, project_id) VALUES ('todo', 0.9, NULL), ('note', 0.1, 'aurora');
INSERT INTO episode_memory (query, reward, reflection, embedding) VALUES ('q', 1.5, 'good', ARRAY[0.5, 0.25]::real[]);
INSERT INTO l0_raw (session_id, speaker, content, metadata, energy, intentions) VALUES
    ('s1', 'user', 'hello', '{"lang": "en"}', 'high', ARRAY['greet', 'ask']), ('s1', 'assistant', 'hi', NULL, NULL, NULL);
INSERT INTO ground_truth (query, expected_docs, kappa) VALUES ('who', ARRAY[3, 5, 8], 0.7);
INSERT INTO stale_memory (original_content, importance, reason, content) VALUES ('old', 0.2, 'superseded', 'new');
INSERT INTO smf_proposals (trigger_type, proposed_action, affected_edges, reasoning, approval_level) VALUES
    ('conflict', '{"action": "merge", "ids": [1, 2]}', ARRAY['6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f']::uuid[], 'dup', 'auto');
INSERT INTO ief_feedback (query_text, constitutive_weight_used, helpful, result_count) VALUES ('q?', 0.3, true, 4);
INSERT INTO l2_insight_history (insight_id, action, actor, reason, old_content, new_content) VALUES
    (1, 'update', 'system', 'refined', 'prefers coffee', 'prefers tea');
"#;

/// The external schema on SQLite: arrays and JSON as text, uuids given.
const SQLITE_EXTERNAL_DDL: &str = r#"
CREATE TABLE l2_insights (id INTEGER PRIMARY KEY AUTOINCREMENT, content TEXT NOT NULL, embedding TEXT NOT NULL,
    source_ids TEXT NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP, metadata TEXT,
    io_category TEXT, is_identity BOOLEAN DEFAULT 0, source_file TEXT, memory_strength REAL);
CREATE TABLE nodes (id TEXT PRIMARY KEY, label TEXT NOT NULL, name TEXT NOT NULL,
    properties TEXT DEFAULT '{}', vector_id INTEGER REFERENCES l2_insights(id), created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (label, name));
CREATE TABLE edges (id TEXT PRIMARY KEY, source_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, relation TEXT NOT NULL,
    weight REAL DEFAULT 1.0, properties TEXT DEFAULT '{}', created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    modified_at TEXT, last_accessed TEXT, access_count INTEGER DEFAULT 0,
    last_engaged TEXT, memory_sector TEXT DEFAULT 'semantic', UNIQUE (source_id, target_id, relation));
CREATE TABLE working_memory (id INTEGER PRIMARY KEY AUTOINCREMENT, content TEXT NOT NULL, importance REAL DEFAULT 0.5,
    last_accessed TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP, project_id VARCHAR(50));
CREATE TABLE episode_memory (id INTEGER PRIMARY KEY AUTOINCREMENT, query TEXT NOT NULL, reward REAL NOT NULL,
    reflection TEXT NOT NULL, embedding TEXT NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l0_raw (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, speaker TEXT NOT NULL,
    content TEXT NOT NULL, timestamp TEXT DEFAULT CURRENT_TIMESTAMP, metadata TEXT, energy VARCHAR(20), state TEXT,
    location TEXT, intentions TEXT);
CREATE TABLE ground_truth (id INTEGER PRIMARY KEY AUTOINCREMENT, query TEXT NOT NULL, expected_docs TEXT NOT NULL,
    judge1_model TEXT, judge2_model TEXT, kappa REAL, created_at TEXT DEFAULT CURRENT_TIMESTAMP, metadata TEXT);
CREATE TABLE stale_memory (id INTEGER PRIMARY KEY AUTOINCREMENT, original_content TEXT NOT NULL, importance REAL NOT NULL,
    reason TEXT NOT NULL, content TEXT NOT NULL, archived_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE smf_proposals (id INTEGER PRIMARY KEY AUTOINCREMENT, trigger_type TEXT NOT NULL, proposed_action TEXT NOT NULL,
    affected_edges TEXT NOT NULL, reasoning TEXT NOT NULL, approval_level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'PENDING', created_at TEXT DEFAULT CURRENT_TIMESTAMP, resolved_at TEXT, resolved_by TEXT);
CREATE TABLE ief_feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, query_id TEXT NOT NULL,
    query_text TEXT NOT NULL, constitutive_weight_used REAL NOT NULL, helpful BOOLEAN, feedback_reason TEXT,
    result_count INTEGER, conflict_count INTEGER, created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l2_insight_history (id INTEGER PRIMARY KEY AUTOINCREMENT, insight_id INTEGER NOT NULL REFERENCES l2_insights(id),
    action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, old_content TEXT, new_content TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP);

INSERT INTO l2_insights (content, embedding, source_ids, metadata, io_category, memory_strength) VALUES
    ('prefers tea', '[0.25,-0.5,1.0]', '[1,2]', '{"k": [1, 2]}', 'preference', 0.75),
    ('lives in Oslo', '[0.125]', '[]', NULL, NULL, NULL);
INSERT INTO nodes (id, label, name, properties, vector_id) VALUES
    ('6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f', 'person', 'ada', '{"age": 36}', 1),
    ('0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'city', 'oslo', '{}', 2);
INSERT INTO edges (id, source_id, target_id, relation, weight) VALUES
    ('11111111-2222-4333-8444-555555555555', '6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f',
     '0b6e2a44-1d2c-4e3f-8a9b-7c6d5e4f3a2b', 'LIVES_IN', 0.9);
INSERT INTO working_memory (content, importance, project_id) VALUES ('todo', 0.9, NULL), ('note', 0.1, 'aurora');
INSERT INTO episode_memory (query, reward, reflection, embedding) VALUES ('q', 1.5, 'good', '[0.5,0.25]');
INSERT INTO l0_raw (session_id, speaker, content, metadata, energy, intentions) VALUES
    ('s1', 'user', 'hello', '{"lang": "en"}', 'high', '["greet","ask"]'), ('s1', 'assistant', 'hi', NULL, NULL, NULL);
INSERT INTO ground_truth (query, expected_docs, kappa) VALUES ('who', '[3,5,8]', 0.7);
INSERT INTO stale_memory (original_content, importance, reason, content) VALUES ('old', 0.2, 'superseded', 'new');
INSERT INTO smf_proposals (trigger_type, proposed_action, affected_edges, reasoning, approval_level) VALUES
    ('conflict', '{"action": "merge", "ids": [1, 2]}', '["6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f"]', 'dup', 'auto');
INSERT INTO ief_feedback (query_id, query_text, constitutive_weight_used, helpful, result_count) VALUES
    ('99999999-8888-4777-8666-555555555555', 'q?', 0.3, 1, 4);
INSERT INTO l2_insight_history (insight_id, action, actor, reason, old_content, new_content) VALUES
    (1, 'update', 'system', 'refined', 'prefers coffee', 'prefers tea');
"#;

/// The external schema on MySQL: uuids as `BINARY(16)`, arrays as JSON, the keyed text
/// columns as VARCHAR, foreign keys at table level (InnoDB ignores them on a column).
const MYSQL_EXTERNAL_DDL: &str = r#"
CREATE TABLE l2_insights (id INTEGER AUTO_INCREMENT PRIMARY KEY, content TEXT NOT NULL, embedding JSON NOT NULL,
    source_ids JSON NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata JSON,
    io_category TEXT, is_identity BOOLEAN DEFAULT FALSE, source_file TEXT, memory_strength DOUBLE);
CREATE TABLE nodes (id BINARY(16) PRIMARY KEY DEFAULT (UNHEX(REPLACE(UUID(), '-', ''))), label VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL, properties JSON DEFAULT ('{}'), vector_id INTEGER,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (label, name), FOREIGN KEY (vector_id) REFERENCES l2_insights(id));
CREATE TABLE edges (id BINARY(16) PRIMARY KEY DEFAULT (UNHEX(REPLACE(UUID(), '-', ''))),
    source_id BINARY(16) NOT NULL, target_id BINARY(16) NOT NULL, relation VARCHAR(255) NOT NULL,
    weight DOUBLE DEFAULT 1.0, properties JSON DEFAULT ('{}'), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    modified_at TIMESTAMP NULL, last_accessed TIMESTAMP NULL, access_count INTEGER DEFAULT 0,
    last_engaged TIMESTAMP NULL, memory_sector VARCHAR(20) DEFAULT 'semantic', UNIQUE (source_id, target_id, relation),
    FOREIGN KEY (source_id) REFERENCES nodes(id) ON DELETE CASCADE, FOREIGN KEY (target_id) REFERENCES nodes(id) ON DELETE CASCADE);
CREATE TABLE working_memory (id INTEGER AUTO_INCREMENT PRIMARY KEY, content TEXT NOT NULL, importance DOUBLE DEFAULT 0.5,
    last_accessed TIMESTAMP NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, project_id VARCHAR(50));
CREATE TABLE episode_memory (id INTEGER AUTO_INCREMENT PRIMARY KEY, query TEXT NOT NULL, reward DOUBLE NOT NULL,
    reflection TEXT NOT NULL, embedding JSON NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l0_raw (id INTEGER AUTO_INCREMENT PRIMARY KEY, session_id TEXT NOT NULL, speaker TEXT NOT NULL,
    content TEXT NOT NULL, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata JSON, energy VARCHAR(20), state TEXT,
    location TEXT, intentions JSON);
CREATE TABLE ground_truth (id INTEGER AUTO_INCREMENT PRIMARY KEY, query TEXT NOT NULL, expected_docs JSON NOT NULL,
    judge1_model TEXT, judge2_model TEXT, kappa DOUBLE, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata JSON);
CREATE TABLE stale_memory (id INTEGER AUTO_INCREMENT PRIMARY KEY, original_content TEXT NOT NULL, importance DOUBLE NOT NULL,
    reason TEXT NOT NULL, content TEXT NOT NULL, archived_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE smf_proposals (id INTEGER AUTO_INCREMENT PRIMARY KEY, trigger_type TEXT NOT NULL, proposed_action JSON NOT NULL,
    affected_edges JSON NOT NULL, reasoning TEXT NOT NULL, approval_level TEXT NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'PENDING', created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, resolved_at TIMESTAMP NULL,
    resolved_by TEXT);
CREATE TABLE ief_feedback (id INTEGER AUTO_INCREMENT PRIMARY KEY,
    query_id BINARY(16) NOT NULL DEFAULT (UNHEX(REPLACE(UUID(), '-', ''))),
    query_text TEXT NOT NULL, constitutive_weight_used DOUBLE NOT NULL, helpful BOOLEAN, feedback_reason TEXT,
    result_count INTEGER, conflict_count INTEGER, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE l2_insight_history (id INTEGER AUTO_INCREMENT PRIMARY KEY, insight_id INTEGER NOT NULL,
    action TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, old_content TEXT, new_content TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (insight_id) REFERENCES l2_insights(id));

INSERT INTO l2_insights (content, embedding, source_ids, metadata, io_category, memory_strength) VALUES
    ('prefers tea', '[0.25,-0.5,1.0]', '[1,2]', '{"k": [1, 2]}', 'preference', 0.75),
    ('lives in Oslo', '[0.125]', '[]', NULL, NULL, NULL);
INSERT INTO nodes (id, label, name, properties, vector_id) VALUES
    (UNHEX('6f1c1f3e8a9b4c1d9e2f0a1b2c3d4e5f'), 'person', 'ada', '{"age": 36}', 1),
    (UNHEX('0b6e2a441d2c4e3f8a9b7c6d5e4f3a2b'), 'city', 'oslo', '{}', 2);
INSERT INTO edges (id, source_id, target_id, relation, weight) VALUES
    (UNHEX('11111111222243338444555555555555'), UNHEX('6f1c1f3e8a9b4c1d9e2f0a1b2c3d4e5f'),
     UNHEX('0b6e2a441d2c4e3f8a9b7c6d5e4f3a2b'), 'LIVES_IN', 0.9);
INSERT INTO working_memory (content, importance, project_id) VALUES ('todo', 0.9, NULL), ('note', 0.1, 'aurora');
INSERT INTO episode_memory (query, reward, reflection, embedding) VALUES ('q', 1.5, 'good', '[0.5,0.25]');
INSERT INTO l0_raw (session_id, speaker, content, metadata, energy, intentions) VALUES
    ('s1', 'user', 'hello', '{"lang": "en"}', 'high', '["greet","ask"]'), ('s1', 'assistant', 'hi', NULL, NULL, NULL);
INSERT INTO ground_truth (query, expected_docs, kappa) VALUES ('who', '[3,5,8]', 0.7);
INSERT INTO stale_memory (original_content, importance, reason, content) VALUES ('old', 0.2, 'superseded', 'new');
INSERT INTO smf_proposals (trigger_type, proposed_action, affected_edges, reasoning, approval_level) VALUES
    ('conflict', '{"action": "merge", "ids": [1, 2]}', '["6f1c1f3e-8a9b-4c1d-9e2f-0a1b2c3d4e5f"]', 'dup', 'auto');
INSERT INTO ief_feedback (query_text, constitutive_weight_used, helpful, result_count) VALUES ('q?', 0.3, 1, 4);
INSERT INTO l2_insight_history (insight_id, action, actor, reason, old_content, new_content) VALUES
    (1, 'update', 'system', 'refined', 'prefers coffee', 'prefers tea');
"#;

/// The external schema's DDL on `backend`.
pub(super) fn external_ddl(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => PG_EXTERNAL_DDL,
        Backend::Sqlite => SQLITE_EXTERNAL_DDL,
        Backend::Mysql => MYSQL_EXTERNAL_DDL,
    }
}

/// Runs each statement of `ddl` in `db`.
pub(super) async fn load(db: &Db, ddl: &str) {
    for statement in ddl.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        exec(db, statement).await;
    }
}

/// The external schema, loaded into `db`.
pub(super) async fn load_external_memory_tables(db: &Db) {
    load(db, external_ddl(Backend::of(db))).await;
}
