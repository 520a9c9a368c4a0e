package postgresauditexporter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/pgtest"
)

// edgeRecords are the governed fixture's records and variants of them that reach every branch of the COPY encoding:
// NULL and set optional text, measured and unmeasured numbers, chain_seq 0 and set, empty and non-empty lists,
// times before 2000 and with nanoseconds, non-ASCII text, JSON with nested members.
func edgeRecords(t *testing.T) []audit.Record {
	conv, err := newAuditExporter(testConfig(t, "postgres://unused"), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	recs, _, bad := conv.convert(governed(t, "tenant-a"))
	require.Empty(t, bad)
	base := recs[0]
	v := func(i int, f func(r *audit.Record)) audit.Record {
		r := base
		r.ID = base.ID + "-v" + itoa(i)
		f(&r)
		return r
	}
	n, x := int64(-42), 3.25
	recs = append(recs,
		v(1, func(r *audit.Record) {
			r.RequestID, r.SessionID, r.Query, r.Model = "", "", "", ""
			r.InputTokens, r.OutputTokens, r.TokensUsed, r.ResponseTimeMS, r.Cost = nil, nil, nil, nil, nil
			r.PIITypes, r.RedactedFields, r.Obligations = nil, []string{}, nil
			r.ChainID, r.ChainSeq, r.PrevHash, r.RecordHash = "", 0, "", ""
		}),
		v(2, func(r *audit.Record) {
			r.Timestamp = time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
			r.ReceivedAt = time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, time.FixedZone("x", 5*3600))
			r.InputTokens, r.Cost = &n, &x
			r.PIITypes = []string{"email", "ünïcødé", ""}
			r.RedactedFields = []string{"a.b", `quote"and\\backslash`}
			r.Query = "naïve — 日本語 {\"json\": [1,2]}"
			r.ChainSeq = 1 << 40
			r.Metadata = map[string]any{"nested": map[string]any{"k": []any{1.5, "s", nil, true}}, "resource": map[string]any{}}
		}),
	)
	return recs
}

// The binary COPY stream stores exactly what pgx's own encoding of audit.Record.AppendColumnValues stores (the
// encoding it replaces), column by column, for every branch of the encoding.
func TestCopyReaderMatchesPgx(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	startExporter(t, testConfig(t, dsn), nil) // the schema
	ctx := context.Background()
	recs := edgeRecords(t)
	rows := rowsOf(recs)

	c := connect(t, dsn)
	_, err := c.Exec(ctx, "CREATE TABLE via_pgx (LIKE audit_logs); CREATE TABLE via_reader (LIKE audit_logs)")
	require.NoError(t, err)
	var vals [][]any
	for i := range rows {
		vals = append(vals, rows[i].rec.AppendColumnValues(nil, rows[i].decisionID))
	}
	n, err := c.CopyFrom(ctx, pgx.Identifier{"via_pgx"}, audit.Columns, pgx.CopyFromRows(vals))
	require.NoError(t, err)
	require.EqualValues(t, len(rows), n)
	tag, err := c.PgConn().CopyFrom(ctx, newCopyReader(rows), "COPY via_reader ("+audit.ColumnList("")+") FROM STDIN (FORMAT binary)")
	require.NoError(t, err)
	require.EqualValues(t, len(rows), tag.RowsAffected())

	for _, col := range audit.Columns {
		q := `SELECT count(*) FROM via_pgx p FULL JOIN via_reader r USING (id) WHERE p.id IS NULL OR r.id IS NULL OR p."` + col +
			`" IS DISTINCT FROM r."` + col + `"`
		assert.Zero(t, queryInt(t, dsn, q), "column %s", col)
	}
	assert.EqualValues(t, len(rows), queryInt(t, dsn, "SELECT count(*) FROM via_reader"))
	// NULLs where ColumnValue gives nil, {} for an empty list.
	id1 := recs[len(recs)-2].ID
	assert.EqualValues(t, 1, queryInt(t, dsn, `SELECT count(*) FROM via_reader WHERE id = $1 AND request_id IS NULL AND input_tokens IS NULL
		AND cost IS NULL AND chain_seq IS NULL AND pii_types = '{}' AND redacted_fields = '{}'`, id1))
}

// A batch larger than one chunk of the stream (several Read calls, rows split across them) arrives whole.
func TestCopyReaderManyChunks(t *testing.T) {
	recs := edgeRecords(t)
	var all []audit.Record
	for i := 0; len(all) < 3000; i++ {
		for _, r := range recs {
			r.ID = r.ID + "-" + itoa(i)
			all = append(all, r)
		}
	}
	var sb strings.Builder
	buf := make([]byte, 1000) // smaller than a row: rows cross Read calls
	cr := newCopyReader(rowsOf(all))
	reads := 0
	for {
		n, err := cr.Read(buf)
		sb.Write(buf[:n])
		reads++
		if err != nil {
			break
		}
	}
	var want []byte
	want = append(want, copySignature...)
	rows := rowsOf(all)
	for i := range rows {
		want = appendCopyRow(want, &rows[i])
	}
	want = append(want, copyTrailer...)
	assert.Greater(t, len(want), 2*copyChunk, "the batch spans several chunks")
	assert.Equal(t, string(want), sb.String())
	assert.Greater(t, reads, len(want)/len(buf))
}

// checkCaps on a prepared row reports what audit.Record.CheckCaps reports, for a record within its caps and for each
// kind of value over its cap (text, uuid, list element, JSON column), also when several are over.
func TestCheckCapsMatchesAudit(t *testing.T) {
	recs := edgeRecords(t)
	base := recs[0]
	big := strings.Repeat("x", audit.MaxJSONColumnBytes)
	cases := map[string]func(r *audit.Record){
		"within": func(*audit.Record) {},
		"text":   func(r *audit.Record) { r.RequestID = strings.Repeat("r", audit.MaxIdentifierBytes+1) },
		"uuid":   func(r *audit.Record) { r.DecisionID = strings.Repeat("d", 37) },
		"list element": func(r *audit.Record) {
			r.RedactedFields = []string{"ok", strings.Repeat("p", audit.MaxFieldPathBytes+1)}
		},
		"metadata":       func(r *audit.Record) { r.Metadata = map[string]any{"big": big} },
		"policy_details": func(r *audit.Record) { r.PolicyDetails.Reasons = []string{big} },
		"text and json":  func(r *audit.Record) { r.Metadata = map[string]any{"big": big}; r.UserEmail = strings.Repeat("u", 400) },
		"list and json": func(r *audit.Record) {
			r.PIITypes = []string{strings.Repeat("t", 200)}
			r.Metadata = map[string]any{"big": big}
		},
		"content at cap":  func(r *audit.Record) { r.Query = strings.Repeat("q", audit.MaxContentColumnBytes) },
		"content above":   func(r *audit.Record) { r.ResponseSample = strings.Repeat("q", audit.MaxContentColumnBytes+1) },
		"unicode at edge": func(r *audit.Record) { r.ToolName = strings.Repeat("é", audit.MaxIdentifierBytes/2) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			r := base
			f(&r)
			want := r.CheckCaps()
			row := row{rec: &r, js: r.StoredJSON()}
			got := row.checkCaps()
			if want == nil {
				assert.NoError(t, got)
				return
			}
			require.Error(t, got)
			assert.Equal(t, want.Error(), got.Error())
		})
	}
	for i := range recs {
		row := row{rec: &recs[i], js: recs[i].StoredJSON()}
		assert.Equal(t, recs[i].CheckCaps(), row.checkCaps())
	}
}

// A batch of which some rows are stored already takes the conflict path: the new rows are inserted, the stored
// ones skipped (counted as duplicates), and nothing is refused.
func TestWriteConflictPath(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	e := startExporter(t, testConfig(t, dsn), tel)
	ctx := context.Background()
	recs := edgeRecords(t)
	require.NoError(t, e.store(ctx, recs[:5], nil))
	assert.EqualValues(t, 5, queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	n, err := e.w.write(ctx, rowsOf(recs), nil)
	require.NoError(t, err)
	assert.EqualValues(t, len(recs)-5, n, "only the rows not stored yet are inserted")
	assert.EqualValues(t, len(recs), queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
	n, err = e.w.write(ctx, rowsOf(recs), nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.EqualValues(t, len(recs), queryInt(t, dsn, "SELECT count(*) FROM audit_logs"))
}
