package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/govcol/govcol/internal/audit"
)

// The request filter of search, report and export: decoding (unknown fields refused) and paging.

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
