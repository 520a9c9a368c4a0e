package store

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// columnOIDs are the audit_logs column types (migrations/001_audit_logs.sql) by field kind.
var columnOIDs = map[audit.FieldKind]uint32{
	audit.KindText: pgtype.TextOID, audit.KindUUID: pgtype.UUIDOID, audit.KindTime: pgtype.TimestamptzOID,
	audit.KindJSON: pgtype.JSONBOID, audit.KindStringsJSON: pgtype.JSONBOID, audit.KindList: pgtype.TextArrayOID,
	audit.KindInt: pgtype.Int8OID, audit.KindSeq: pgtype.Int8OID, audit.KindFloat: pgtype.Float8OID,
}

// binaryRows is one row as Postgres sends it in binary format: the COPY values of a record, encoded by pgx.
type binaryRows struct {
	pgx.Rows
	m    *pgtype.Map
	fds  []pgconn.FieldDescription
	vals [][]byte
}

func (b *binaryRows) FieldDescriptions() []pgconn.FieldDescription { return b.fds }
func (b *binaryRows) RawValues() [][]byte                          { return b.vals }
func (b *binaryRows) Scan(dest ...any) error {
	for i, d := range dest {
		if err := b.m.Scan(b.fds[i].DataTypeOID, pgx.BinaryFormatCode, b.vals[i], d); err != nil {
			return err
		}
	}
	return nil
}

func encodeRow(t *testing.T, r *audit.Record) *binaryRows {
	m := pgtype.NewMap()
	id, err := uuid.Parse(r.DecisionID)
	require.NoError(t, err)
	values := r.AppendColumnValues(nil, id)
	rows := &binaryRows{m: m}
	col := 0
	for i := range audit.Fields {
		f := &audit.Fields[i]
		if f.Column == "" {
			continue
		}
		oid := columnOIDs[f.Kind]
		rows.fds = append(rows.fds, pgconn.FieldDescription{Name: f.Column, DataTypeOID: oid, Format: pgx.BinaryFormatCode})
		v, err := m.Encode(oid, pgx.BinaryFormatCode, values[col], nil)
		require.NoError(t, err, f.Column)
		if v == nil && values[col] != nil && !isNilPointer(values[col]) {
			v = []byte{} // an empty text, not NULL
		}
		rows.vals = append(rows.vals, v)
		col++
	}
	return rows
}

// The binary decoder and the Scan fallback, both driven by the field table, read a stored row back to the record
// the exporter wrote: the same fields and the same record_hash, full or with every optional column NULL.
func TestRowReadersAgreeWithTheFieldTable(t *testing.T) {
	ts := time.Date(2026, 11, 22, 8, 46, 14, 504123000, time.UTC)
	full := audit.Record{ID: "aud_1", DecisionID: "019aab20-c2f4-7000-8000-000000000001", Timestamp: ts,
		ReceivedAt: ts.Add(time.Second), RequestID: "q", CorrelationID: "c", TraceID: "0102", SpanID: "0a0b",
		RequestType: "claude_code_user_prompt", Plane: "claude_code", Origin: "claude-code", OrgID: "org", TenantID: "t",
		ClientID: "cl", UserEmail: "dev@example.com", IdentitySource: "header", UserID: "u", SessionID: "s",
		PolicyDecision: audit.VerdictRedacted, PolicyDetails: audit.PolicyDetails{Matched: []string{"p1"}, TopPolicy: "p1"},
		Obligations: []string{audit.ObligationRedactPII}, PIITypes: []string{"email", "ssn"}, RedactedFields: []string{"prompt"},
		Query: "My SSN is [REDACTED:ssn]", ResponseSample: "ok", QueryHash: "h", Provider: "anthropic", Model: "m",
		ToolName: "Bash", ResponseTimeMS: ptr(int64(92)), InputTokens: ptr(int64(1200)), OutputTokens: ptr(int64(25)),
		TokensUsed: ptr(int64(1225)), Cost: ptr(0.0056099999999999995), Metadata: map[string]any{"k": "v", "n": 1.5},
		ChainID: "inst/t/x", ChainSeq: 42, PrevHash: "v1:00"}
	minimal := audit.Record{ID: "aud_2", DecisionID: "019aab20-c2f4-7000-8000-000000000002", Timestamp: ts,
		ReceivedAt: ts, TenantID: "t", PolicyDecision: audit.VerdictAllowed}
	for _, r := range []audit.Record{full, minimal} {
		h, err := r.ComputeHash()
		require.NoError(t, err)
		r.RecordHash = h
		rows := encodeRow(t, &r)
		require.True(t, binaryColumns(rows.fds))

		var fast, slow integrity.Entry
		require.NoError(t, decodeEntry(rows.vals, &fast))
		require.NoError(t, scanEntry(rows, &slow))
		for _, e := range []*integrity.Entry{&fast, &slow} {
			got := e.Record
			got.Timestamp, got.ReceivedAt = got.Timestamp.UTC(), got.ReceivedAt.UTC()
			want := r
			want.PolicyDetails, want.ComplianceFlags, want.SecurityMetrics, want.Metadata = audit.PolicyDetails{}, audit.ComplianceFlags{}, audit.SecurityMetrics{}, nil
			want.Obligations = nil
			if want.PIITypes == nil {
				want.PIITypes, want.RedactedFields = []string{}, []string{}
			}
			if got.PIITypes == nil { // an empty text[] reads as nil or empty
				got.PIITypes, got.RedactedFields = []string{}, []string{}
			}
			assert.Equal(t, want, got, r.ID)
			assert.JSONEq(t, string(r.PolicyDetailsJSON()), string(e.JSON.PolicyDetails))
			assert.JSONEq(t, string(r.MetadataJSON()), string(e.JSON.Metadata))
			b, err := e.Record.CanonicalWithJSON(e.JSON)
			require.NoError(t, err)
			assert.Equal(t, h, audit.HashOf(b), "%s: the hash of the row read back", r.ID)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func isNilPointer(v any) bool {
	switch p := v.(type) {
	case *int64:
		return p == nil
	case *float64:
		return p == nil
	}
	return false
}
