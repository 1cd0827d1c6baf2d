// The session database's tables (documented in docs/store.md). Raw socket
// chunks are the source of truth; everything else is derived and can be
// rebuilt by replaying them. Chunks and params/results texts are stored in
// deflated blocks (src/store/blocks.ts); the views that show them call
// functions SessionReader registers (ipc_text), so read them with
// `ipc-trace query`, not the sqlite3 shell.

export const STORE_SCHEMA_VERSION = 3;

export const STORE_DDL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Compiled schemas the session was decoded with (a CodeGeneratorRequest, zlib-deflated), so replay decodes alike.
CREATE TABLE schema_sets (id INTEGER PRIMARY KEY, source TEXT NOT NULL, cgr BLOB NOT NULL);

CREATE TABLE connections (
  id INTEGER PRIMARY KEY,
  seq_open INTEGER NOT NULL,
  opened REAL NOT NULL,            -- ms since the Unix epoch
  label TEXT NOT NULL,
  client_name TEXT, server_name TEXT,
  seq_close INTEGER, closed REAL, close_reason TEXT,
  client_process INTEGER, server_process INTEGER
);

-- Raw bytes as read from each socket, in order: the source of truth replay feeds the pipeline from.
-- A block holds consecutive chunks of one direction of a connection (src/store/blocks.ts): their
-- seqs, times and bytes; deflated (z = 1, or 2: in a pack with other small blocks), or raw (z = 0:
-- the newest chunks of a direction, written each batch and replaced by a deflated block once there
-- are 32 KB of them or the direction ends).
CREATE TABLE chunk_blocks (
  seq INTEGER PRIMARY KEY,         -- the first chunk's seq
  conn INTEGER NOT NULL,
  dir TEXT NOT NULL,               -- '>' from the connecting side, '<' back
  offset INTEGER NOT NULL,         -- byte offset of the first chunk in its direction's stream
  size INTEGER NOT NULL,           -- bytes of its chunks
  n INTEGER NOT NULL,              -- chunks
  last_time REAL NOT NULL,
  z INTEGER NOT NULL,               -- 0 raw, 1 deflated, 2 in a pack (small blocks written in one batch are deflated together)
  data BLOB,                       -- z 0, 1
  pack INTEGER, pack_at INTEGER    -- z 2: chunk_packs.id, and where the block starts in the pack's inflated data
);

CREATE TABLE chunk_packs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);

-- Params and results texts (capnp text format, bytes as latin1), in blocks of consecutive ids as chunk_blocks.
CREATE TABLE text_blocks (
  id INTEGER PRIMARY KEY,          -- the first text's id
  n INTEGER NOT NULL,
  z INTEGER NOT NULL,
  data BLOB NOT NULL
);

-- Stream events that are not bytes: end of one direction, recorder gaps (a direction's 'gap' and 'gap+' rows add up to what it lost).
CREATE TABLE stream_events (
  seq INTEGER PRIMARY KEY,
  conn INTEGER NOT NULL,
  dir TEXT NOT NULL,
  time REAL NOT NULL,
  kind TEXT NOT NULL,              -- 'end' | 'gap' | 'gap+' (bytes dropped later in a direction that has a gap)
  bytes INTEGER NOT NULL DEFAULT 0 -- gap, gap+: bytes relayed but not recorded
);

-- What ipc-trace's interceptor did on the wire (--hold, --delay, --fail, --disconnect; src/intercept/),
-- in its place in the recorded stream (seq is shared with chunks, stream_events and connections).
CREATE TABLE interventions (
  seq INTEGER PRIMARY KEY,
  conn INTEGER NOT NULL,
  dir TEXT NOT NULL,               -- the direction of the message acted on
  time REAL NOT NULL,
  kind TEXT NOT NULL,              -- 'hold' | 'release' | 'delay' | 'fail' | 'disconnect'
  held INTEGER,                    -- the held message's number (#N), if any
  question_id INTEGER,             -- the Call's question id (a Return's answer id)
  title TEXT NOT NULL,             -- Iface.method
  text TEXT NOT NULL               -- the log line after 'IPC wire '
);

-- One row per Cap'n Proto message (or framing error), as decoded; read it through the view
-- messages, which adds the text (a Call's or Return's is its call's params or results), and the
-- interface, method and name of a Call or Return with a call (left NULL here when its call has them:
-- Iface.method$Params / $Results; '' for no name).
CREATE TABLE message_rows (
  id INTEGER PRIMARY KEY,
  conn INTEGER NOT NULL,
  n INTEGER,                       -- index in the connection (both directions), as capnp-oracle numbers
  dir TEXT NOT NULL,
  time REAL NOT NULL,
  offset INTEGER NOT NULL,         -- byte offset in its direction's stream
  size INTEGER,
  type TEXT,                       -- call, return, bootstrap, finish, release, resolve, disembargo, abort, other
  question_id INTEGER, answer_id INTEGER,
  interface_id TEXT, method_id INTEGER,
  name TEXT,                       -- Iface.method$Params / $Results
  exception TEXT,
  error TEXT,
  call_id INTEGER
);

CREATE TABLE processes (
  id INTEGER PRIMARY KEY,
  label TEXT NOT NULL,             -- bitcoin-node-72388, or a placeholder (client#1, server#1, exec name)
  exe TEXT, pid INTEGER,
  requests INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE threads (
  id INTEGER PRIMARY KEY,
  process INTEGER NOT NULL,
  role TEXT NOT NULL,              -- client | worker | loop
  name TEXT,                       -- client threads: the name sent in ThreadMap.makeThread
  from_thread INTEGER,             -- workers: the client thread it serves
  label TEXT NOT NULL,             -- as shown: name, "P (from NAME)", "P (event loop)"
  first_seen REAL NOT NULL
);

CREATE TABLE capabilities (
  id INTEGER PRIMARY KEY,
  conn INTEGER NOT NULL,
  owner TEXT NOT NULL,             -- 'A' (connecting side) or 'B': the exporting vat
  export_id INTEGER NOT NULL,
  iface TEXT, label TEXT NOT NULL,
  thread INTEGER,
  refs INTEGER NOT NULL,
  promise INTEGER NOT NULL,
  created REAL NOT NULL, released REAL
);

CREATE TABLE calls (
  id INTEGER PRIMARY KEY,
  conn INTEGER NOT NULL,
  dir TEXT NOT NULL,
  question_id INTEGER NOT NULL,
  interface_id TEXT NOT NULL, method_id INTEGER NOT NULL,
  iface TEXT, method TEXT, title TEXT NOT NULL,
  target TEXT NOT NULL,
  has_context INTEGER NOT NULL,
  caller_thread INTEGER, executor_thread INTEGER,
  client_process INTEGER NOT NULL, server_process INTEGER NOT NULL,
  parent_call INTEGER, depth INTEGER NOT NULL,
  status TEXT NOT NULL,            -- pending | returned | exception | canceled | disconnected
  exception TEXT,
  request_no INTEGER,              -- libmultiprocess's #N on the server process (from the session's start)
  sent REAL NOT NULL, returned REAL, cancel_requested REAL, finished REAL,
  params_ref INTEGER, results_ref INTEGER, -- text ids (text_blocks); views show the texts: ipc_text(params_ref)
  call_msg INTEGER, return_msg INTEGER,    -- its Call and Return in message_rows
  retired INTEGER NOT NULL
);

CREATE TABLE errors (
  id INTEGER PRIMARY KEY,
  conn INTEGER, dir TEXT,
  time REAL NOT NULL,
  offset INTEGER,
  kind TEXT NOT NULL,              -- decode | framing | gap | transport
  message TEXT NOT NULL
);

CREATE INDEX chunk_blocks_stream ON chunk_blocks (conn, dir, offset);

CREATE VIEW messages AS
SELECT m.id, m.conn, m.n, m.dir, m.time, m.offset, m.size, m.type, m.question_id, m.answer_id,
       CASE WHEN m.type = 'call' AND m.interface_id IS NULL THEN c.interface_id ELSE m.interface_id END AS interface_id,
       CASE WHEN m.type = 'call' AND m.interface_id IS NULL THEN c.method_id ELSE m.method_id END AS method_id,
       CASE WHEN m.name = '' THEN NULL WHEN m.name IS NOT NULL THEN m.name
            WHEN m.type = 'call' THEN c.title || '$Params' WHEN m.type = 'return' THEN c.title || '$Results' END AS name,
       ipc_text(CASE m.type WHEN 'call' THEN c.params_ref WHEN 'return' THEN c.results_ref END) AS text, -- params/results in capnp text format (bytes as latin1)
       m.exception, m.error, m.call_id
FROM message_rows m LEFT JOIN calls c ON c.id = m.call_id;
CREATE INDEX calls_parent ON calls (parent_call);

-- Views that read well in the sqlite3 shell.
CREATE VIEW v_calls AS
SELECT c.id,
       strftime('%Y-%m-%dT%H:%M:%fZ', c.sent / 1000.0, 'unixepoch') AS sent,
       c.conn,
       COALESCE(ct.label, cp.label || '/?') AS caller,
       c.title, c.target,
       et.label AS executor,
       c.parent_call AS parent,
       c.status,
       CASE WHEN c.returned IS NOT NULL THEN round(c.returned - c.sent, 3) END AS latency_ms,
       c.request_no AS req,
       ipc_text(c.params_ref) AS params, ipc_text(c.results_ref) AS results, c.exception
FROM calls c
LEFT JOIN threads ct ON ct.id = c.caller_thread
LEFT JOIN threads et ON et.id = c.executor_thread
LEFT JOIN processes cp ON cp.id = c.client_process;

CREATE VIEW v_outstanding AS
SELECT c.id, c.conn, COALESCE(ct.label, cp.label || '/?') AS caller, c.title, c.target, et.label AS executor,
       c.parent_call AS parent,
       -- Age now while recording; at the recording's end once it has one (meta.ended).
       round((COALESCE((SELECT (julianday(value) - 2440587.5) * 86400000.0 FROM meta WHERE key = 'ended'),
                       (julianday('now') - 2440587.5) * 86400000.0) - c.sent) / 1000.0, 3) AS age_s,
       c.cancel_requested IS NOT NULL AS cancel_requested
FROM calls c
LEFT JOIN threads ct ON ct.id = c.caller_thread
LEFT JOIN threads et ON et.id = c.executor_thread
LEFT JOIN processes cp ON cp.id = c.client_process
WHERE c.status = 'pending';

CREATE VIEW v_threads AS
SELECT t.id, p.label AS process, t.role, t.label,
       (SELECT count(*) FROM calls WHERE caller_thread = t.id) AS calls_made,
       (SELECT count(*) FROM calls WHERE executor_thread = t.id) AS calls_run
FROM threads t JOIN processes p ON p.id = t.process;
`;
