package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/govcol/govcol/internal/audit"
)

// The record handlers: one record, search, a tenant's records, the report.

func (a *auditAPI) get(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		return badRequest("invalid id")
	}
	// A record outside what the license may read is as absent as a missing one.
	cond, args, err := a.where(c, filter{})
	if err != nil {
		return err
	}
	args = append(args, id)
	q := fmt.Sprintf("SELECT to_jsonb(a) FROM %s a WHERE %s AND id = $%d LIMIT 1", a.cfg.Table, cond, len(args))
	var row json.RawMessage
	err = a.pool.QueryRow(ctx, q, args...).Scan(&row)
	if errors.Is(err, pgx.ErrNoRows) {
		return &apiError{http.StatusNotFound, "not found"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

type searchResponse struct {
	Entries []json.RawMessage `json:"entries"`
	Total   int64             `json:"total"`
	Limit   int               `json:"limit"`
	Offset  int               `json:"offset"`
}

func (a *auditAPI) search(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilter(r)
	if err != nil {
		return err
	}
	return a.searchWith(ctx, c, f, w)
}

func (a *auditAPI) searchWith(ctx context.Context, c caller, f filter, w http.ResponseWriter) error {
	limit, offset, err := a.page(f)
	if err != nil {
		return err
	}
	cond, args, err := a.where(c, f)
	if err != nil {
		return err
	}
	resp := searchResponse{Entries: []json.RawMessage{}, Limit: limit, Offset: offset}
	if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM "+a.cfg.Table+" WHERE "+cond, args...).Scan(&resp.Total); err != nil {
		return err
	}
	q := fmt.Sprintf(`SELECT to_jsonb(a) FROM %s a WHERE %s ORDER BY "timestamp" DESC, id LIMIT %d OFFSET %d`, a.cfg.Table, cond, limit, offset)
	entries, err := a.queryJSON(ctx, q, args...)
	if err != nil {
		return err
	}
	resp.Entries = append(resp.Entries, entries...)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// queryJSON runs q, whose one column is a record as JSON (to_jsonb), and returns the records in order.
func (a *auditAPI) queryJSON(ctx context.Context, q string, args ...any) ([]json.RawMessage, error) {
	rows, err := a.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
}

func (a *auditAPI) tenant(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	f := filter{TenantID: r.PathValue("tenant_id")} // where refuses a tenant the license may not read
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return badRequest("limit must be an integer")
		}
		f.Limit = &n
	}
	return a.searchWith(ctx, c, f, w)
}

type policyCount struct {
	PolicyID string `json:"policy_id"`
	Triggers int64  `json:"triggers"`
	Blocks   int64  `json:"blocks"`
}

type reportResponse struct {
	Start        time.Time        `json:"start_time"`
	End          time.Time        `json:"end_time"`
	Total        int64            `json:"total"`
	ByAction     map[string]int64 `json:"by_action"`
	AvgLatencyMS *float64         `json:"avg_latency_ms"`
	LatencyCount int64            `json:"latency_samples"`
	TopPolicies  []policyCount    `json:"top_policies"`
}

const maxReportWindow = 366 * 24 * time.Hour

func (a *auditAPI) report(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilter(r)
	if err != nil {
		return err
	}
	if f.Limit != nil || f.Offset != nil {
		return badRequest("limit and offset do not apply to a report")
	}
	if f.end.IsZero() {
		f.end = time.Now().UTC()
	}
	if f.start.IsZero() {
		f.start = f.end.Add(-30 * 24 * time.Hour)
	}
	if f.end.Sub(f.start) > maxReportWindow {
		return badRequest("the report window is at most one year")
	}
	cond, args, err := a.where(c, f)
	if err != nil {
		return err
	}
	resp := reportResponse{Start: f.start, End: f.end, ByAction: map[string]int64{}, TopPolicies: []policyCount{}}
	for _, v := range audit.Verdicts {
		resp.ByAction[string(v)] = 0
	}
	rows, err := a.pool.Query(ctx, "SELECT policy_decision, count(*) FROM "+a.cfg.Table+" WHERE "+cond+" GROUP BY 1", args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v string
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			rows.Close()
			return err
		}
		resp.ByAction[v] = n
		resp.Total += n
	}
	rows.Close()
	if err := a.pool.QueryRow(ctx, "SELECT avg(response_time_ms)::float8, count(response_time_ms) FROM "+a.cfg.Table+" WHERE "+cond, args...).
		Scan(&resp.AvgLatencyMS, &resp.LatencyCount); err != nil {
		return err
	}
	rows, err = a.pool.Query(ctx, `SELECT p, count(*), count(*) FILTER (WHERE policy_decision = 'blocked')
		FROM `+a.cfg.Table+`, jsonb_array_elements_text(policy_details->'matched') AS p WHERE `+cond+`
		GROUP BY p ORDER BY 2 DESC, 1 LIMIT 10`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pc policyCount
		if err := rows.Scan(&pc.PolicyID, &pc.Triggers, &pc.Blocks); err != nil {
			return err
		}
		resp.TopPolicies = append(resp.TopPolicies, pc)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
