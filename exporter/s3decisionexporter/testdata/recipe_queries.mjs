// The SIEM correlation recipe's query shapes over a decision store, with DuckDB as the external-table engine.
// Usage: node recipe_queries.mjs <decisions glob> <downstream audit NDJSON> <from RFC 3339> <to RFC 3339>
// Prints one JSON object with each query's result. Run by recipe_test.go.
import { DuckDBInstance } from '@duckdb/node-api';

const [glob, downstream, from, to] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const q = (s) => s.replaceAll('$GLOB', glob.replaceAll("'", "''")).replaceAll('$DOWN', downstream.replaceAll("'", "''"))
  .replaceAll('$FROM', from).replaceAll('$TO', to);
const rows = async (sql) => (await conn.runAndReadAll(q(sql))).getRowObjectsJson();

// The external table: the same definition for both layouts (JSON objects or JSON lines, gzip or not).
await conn.run(q(`CREATE VIEW decisions AS SELECT * FROM read_json('$GLOB', format = 'auto', union_by_name = true, sample_size = -1)`));
await conn.run(q(`CREATE VIEW cloudaudit AS SELECT * FROM read_json('$DOWN', format = 'newline_delimited')`));

const out = {};
out.total = (await rows(`SELECT count(*)::INT AS n FROM decisions`))[0].n;
out.schema_versions = (await rows(`SELECT DISTINCT schema_version::INT AS v FROM decisions ORDER BY v`)).map((r) => r.v);

// Elasticsearch shape: blocked decisions on BigQuery tooling in a time range, newest first, the five-field summary.
out.blocked_bigquery = await rows(`
  SELECT decision_id::VARCHAR AS decision_id, "timestamp"::VARCHAR AS ts, decision, policy_id, tool_signature
  FROM decisions
  WHERE decision = 'blocked' AND tool_signature LIKE 'bigquery.jobs%'
    AND "timestamp" >= TIMESTAMPTZ '$FROM' AND "timestamp" <= TIMESTAMPTZ '$TO'
  ORDER BY "timestamp" DESC`);

// BigQuery SQL shape: join on the decision_id the downstream audit log echoes, allowed decisions in a time range.
out.joined = await rows(`
  SELECT d."timestamp"::VARCHAR AS decided_at, d.decision_id::VARCHAR AS decision_id, d.decision, d.policy_id, d.tool_signature,
         a.protoPayload.authenticationInfo.principalEmail AS principal, a.protoPayload.methodName AS bq_operation
  FROM decisions AS d
  JOIN cloudaudit AS a ON d.decision_id::VARCHAR = a.labels.axonflow_decision_id
  WHERE d."timestamp" BETWEEN TIMESTAMPTZ '$FROM' AND TIMESTAMPTZ '$TO'
    AND d.decision = 'allowed'
  ORDER BY decided_at DESC`);

// Group by developer: decisions that were not allowed, per user.
out.by_developer = await rows(`
  SELECT user_email, count(*)::INT AS n FROM decisions WHERE decision <> 'allowed' GROUP BY user_email ORDER BY user_email`);

// The session join key where the recipe reads it (policy_details -> 'context' ->> 'x_session_id').
out.sessions = (await rows(`SELECT count(DISTINCT policy_details.context.x_session_id)::INT AS n FROM decisions`))[0].n;

console.log(JSON.stringify(out));
