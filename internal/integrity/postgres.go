package integrity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/license"
)

// Source says what to verify in Postgres.
type Source struct {
	Table            string // audit_logs
	CheckpointsTable string // audit_checkpoints
	Tenant           string // "" for every tenant
	// Since, when set, verifies each chain from its first record received at or after it (retention and windows
	// start a chain in the middle; its first record is then trusted as the anchor).
	Since time.Time
}

// Report is the outcome for every chain.
type Report struct {
	Chains []ChainReport `json:"chains"`
}

// OK reports whether every chain verified.
func (r *Report) OK() bool {
	for i := range r.Chains {
		if !r.Chains[i].OK() {
			return false
		}
	}
	return true
}

// Records is the number of records checked.
func (r *Report) Records() int {
	n := 0
	for i := range r.Chains {
		n += r.Chains[i].Records
	}
	return n
}

// VerifyPostgres reads the chains and checkpoints from Postgres and verifies them.
func VerifyPostgres(ctx context.Context, conn *pgx.Conn, src Source, keys license.KeySet) (*Report, error) {
	entries, cps, err := Load(ctx, conn, src)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	for id, es := range entries {
		rep.Chains = append(rep.Chains, VerifyChain(es, cps[id], keys))
	}
	if src.Since.IsZero() {
		for id, c := range cps {
			if _, ok := entries[id]; !ok { // signed records, none stored
				rep.Chains = append(rep.Chains, VerifyChain(nil, c, keys))
			}
		}
	}
	sortReports(rep.Chains)
	return rep, nil
}

// Load reads the chain entries and checkpoints of src, by chain id.
func Load(ctx context.Context, conn *pgx.Conn, src Source) (map[string][]Entry, map[string][]Checkpoint, error) {
	args := []any{}
	where := []string{"a.chain_id IS NOT NULL"}
	if src.Tenant != "" {
		args = append(args, src.Tenant)
		where = append(where, fmt.Sprintf("a.tenant_id = $%d", len(args)))
	}
	start := ""
	if !src.Since.IsZero() {
		args = append(args, src.Since)
		start = fmt.Sprintf(`JOIN (SELECT chain_id, min(chain_seq) AS s FROM %s WHERE received_at >= $%d AND chain_id IS NOT NULL GROUP BY chain_id) st
			ON st.chain_id = a.chain_id AND a.chain_seq >= st.s`, src.Table, len(args))
	}
	entries := map[string][]Entry{}
	// The records, then the re-delivered ones (kept whole with their own chain position); the --since window is
	// computed on the records of audit_logs for both.
	for _, table := range []string{src.Table, src.Table + "_redeliveries"} {
		q := fmt.Sprintf(`SELECT %s FROM %s a %s WHERE %s`, audit.ColumnList("a."), table, start, strings.Join(where, " AND "))
		if err := scanEntries(ctx, conn, q, args, entries); err != nil {
			return nil, nil, err
		}
	}

	cpArgs := []any{}
	cq := fmt.Sprintf(`SELECT chain_id, tenant_id, last_seq, last_hash, key_id, signed_at, signature, withdrawn FROM %s`, src.CheckpointsTable)
	if src.Tenant != "" {
		cpArgs = append(cpArgs, src.Tenant)
		cq += " WHERE tenant_id = $1"
	}
	rows, err := conn.Query(ctx, cq, cpArgs...)
	if err != nil {
		return nil, nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	cps := map[string][]Checkpoint{}
	for rows.Next() {
		var c Checkpoint
		var withdrawn string
		err := rows.Scan(&c.ChainID, &c.TenantID, &c.LastSeq, &c.LastHash, &c.KeyID, &c.SignedAt, &c.Signature, &withdrawn)
		if err == nil {
			c.Withdrawn, err = ParseRanges(withdrawn)
		}
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		cps[c.ChainID] = append(cps[c.ChainID], c)
	}
	rows.Close()
	return entries, cps, rows.Err()
}

func scanEntries(ctx context.Context, conn *pgx.Conn, q string, args []any, into map[string][]Entry) error {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading audit records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Entry
		r := &e.Record
		var (
			reqID, corr, trace, span, userID, session, query, resp, qhash, provider, model, tool *string
			chainID, prev, hash                                                                  *string
			seq                                                                                  *int64
			plane, origin, verdict                                                               string
		)
		dest := []any{&r.ID, &r.DecisionID, &r.Timestamp, &r.ReceivedAt, &reqID, &corr, &trace, &span,
			&r.RequestType, &plane, &origin, &r.OrgID, &r.TenantID, &r.ClientID, &r.UserEmail, &r.IdentitySource,
			&userID, &session, &verdict, &e.JSON.PolicyDetails, &e.JSON.Obligations, &r.PIITypes, &r.RedactedFields,
			&query, &resp, &qhash, &provider, &model, &tool,
			&r.ResponseTimeMS, &r.InputTokens, &r.OutputTokens, &r.TokensUsed, &r.Cost,
			&e.JSON.ComplianceFlags, &e.JSON.SecurityMetrics, &e.JSON.Metadata, &chainID, &seq, &prev, &hash}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("reading audit records: %w", err)
		}
		r.Plane, r.Origin, r.PolicyDecision = audit.Plane(plane), audit.Origin(origin), audit.Verdict(verdict)
		for _, p := range []struct {
			dst *string
			src *string
		}{{&r.RequestID, reqID}, {&r.CorrelationID, corr}, {&r.TraceID, trace}, {&r.SpanID, span}, {&r.UserID, userID},
			{&r.SessionID, session}, {&r.Query, query}, {&r.ResponseSample, resp}, {&r.QueryHash, qhash},
			{&r.Provider, provider}, {&r.Model, model}, {&r.ToolName, tool}, {&r.ChainID, chainID}, {&r.PrevHash, prev},
			{&r.RecordHash, hash}} {
			if p.src != nil {
				*p.dst = *p.src
			}
		}
		if seq != nil {
			r.ChainSeq = *seq
		}
		into[r.ChainID] = append(into[r.ChainID], e)
	}
	return rows.Err()
}
