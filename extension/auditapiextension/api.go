package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/audit"
)

func (a *auditAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/audit/verify", a.handle("verify", a.verify))
	mux.HandleFunc("GET /api/v1/audit/tenant/{tenant_id}", a.handle("tenant", a.tenant))
	mux.HandleFunc("GET /api/v1/audit/{id}", a.handle("get", a.get))
	mux.HandleFunc("POST /api/v1/audit/search", a.handle("search", a.search))
	mux.HandleFunc("POST /api/v1/audit/report", a.handle("report", a.report))
	mux.HandleFunc("POST /api/v1/audit/export", a.handle("export", a.export))
	mux.HandleFunc("GET /api/v1/audit/session/{session_id}", a.handle("session", a.session))
	mux.HandleFunc("POST /api/v1/audit/activity", a.handle("activity", a.activity))
	mux.HandleFunc("POST /api/v1/audit/developers", a.handle("developers", a.developers))
}

// apiError is an error with its HTTP status; its message is safe to return (no content, no credentials).
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// statusWriter records the status for the request metric.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (a *auditAPI) handle(route string, h func(context.Context, caller, http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			class := "2xx"
			switch {
			case w.status >= 500:
				class = "5xx"
			case w.status >= 400:
				class = "4xx"
			}
			a.tb.AuditapiRequests.Add(context.Background(), 1, metric.WithAttributes(attribute.String("route", route), attribute.String("code", class)))
		}()
		ctx, err := a.auth.Authenticate(r.Context(), r.Header)
		if err != nil {
			writeError(w, &apiError{http.StatusUnauthorized, "a valid license is required (Authorization: Bearer <license>)"})
			return
		}
		c, err := a.callerOf(ctx)
		if err != nil {
			writeError(w, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxRequestBytes)
		qctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
		defer cancel()
		if err := h(qctx, c, w, r); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				a.logger.Error("audit API query failed", zap.String("route", route), zap.Error(err))
				if errors.Is(err, context.DeadlineExceeded) {
					err = &apiError{http.StatusGatewayTimeout, "query timed out"}
				} else {
					err = &apiError{http.StatusInternalServerError, "internal error"}
				}
			}
			if w.status == 0 {
				writeError(w, err)
			}
		}
	}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "internal error"}
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// filter is the body of search, report and export. Unknown fields are refused.
type filter struct {
	StartTime   string `json:"start_time"`
	EndTime     string `json:"end_time"`
	TenantID    string `json:"tenant_id"`
	UserEmail   string `json:"user_email"`
	ClientID    string `json:"client_id"`
	SessionID   string `json:"session_id"`
	RequestType string `json:"request_type"`
	Action      string `json:"action"`
	Origin      string `json:"origin"`
	Limit       *int   `json:"limit"`
	Offset      *int   `json:"offset"`

	start, end time.Time
}

func decodeFilter(r *http.Request) (filter, error) {
	var f filter
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return f, &apiError{http.StatusRequestEntityTooLarge, "request body too large"}
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return f, badRequest("invalid request body: %s", jsonProblem(err))
		}
	}
	for _, t := range []struct {
		name string
		raw  string
		dst  *time.Time
	}{{"start_time", f.StartTime, &f.start}, {"end_time", f.EndTime, &f.end}} {
		if t.raw == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.raw)
		if err != nil {
			return f, badRequest("%s must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z", t.name)
		}
		*t.dst = v
	}
	if !f.start.IsZero() && !f.end.IsZero() && f.end.Before(f.start) {
		return f, badRequest("end_time is before start_time")
	}
	if f.Action != "" && !audit.Verdict(f.Action).Valid() {
		return f, badRequest("action must be one of allowed, redacted, needs_approval, blocked, error")
	}
	return f, nil
}

// jsonProblem names what is wrong with a body without echoing it.
func jsonProblem(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return "field " + te.Field + " has the wrong type"
	}
	return "not a JSON object"
}

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

func (a *auditAPI) page(f filter) (int, int, error) {
	limit, offset := 100, 0
	if f.Limit != nil {
		limit = *f.Limit
	}
	if f.Offset != nil {
		offset = *f.Offset
	}
	if limit < 1 || limit > a.cfg.MaxPageSize {
		return 0, 0, badRequest("limit must be between 1 and %d", a.cfg.MaxPageSize)
	}
	if offset < 0 || offset > 10_000_000 {
		return 0, 0, badRequest("offset must be between 0 and 10000000")
	}
	return limit, offset, nil
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
