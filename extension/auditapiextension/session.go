package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/govcol/govcol/internal/audit"
)

// sessionOrder is the order of a session's events: event time, then Claude Code's event.sequence (several events
// share a millisecond; the sequence is read from metadata only when it is a plain integer, so that no stored value
// can fail the query), then the chain sequence the gateway assigned, then the id.
const sessionOrder = `"timestamp", CASE WHEN metadata->>'event.sequence' ~ '^[0-9]{1,18}$'
	THEN (metadata->>'event.sequence')::bigint END NULLS LAST, chain_seq NULLS LAST, id`

// sessionResponse is one session's events in the order they happened, with a summary of the whole session (not
// only of the page).
type sessionResponse struct {
	SessionID string            `json:"session_id"`
	Total     int64             `json:"total"`
	Limit     int               `json:"limit"`
	Offset    int               `json:"offset"`
	Start     *time.Time        `json:"start_time"`
	End       *time.Time        `json:"end_time"`
	ByAction  map[string]int64  `json:"by_action"`
	Users     []string          `json:"user_emails"`
	Entries   []json.RawMessage `json:"entries"`
}

// session serves GET /api/v1/audit/session/{session_id}?limit=&offset=: the events of one session that the license
// may read, oldest first. A session id is an attribution label, not an access boundary: the caller's scope applies
// exactly as on search (a per-developer license sees its own events of the session only; a session with nothing
// readable is an empty answer, the same as a session that does not exist).
func (a *auditAPI) session(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("session_id")
	if !audit.IsIdentifier(id) {
		return badRequest("invalid session id")
	}
	f := filter{SessionID: id}
	for _, p := range []struct {
		name string
		dst  **int
	}{{"limit", &f.Limit}, {"offset", &f.Offset}} {
		if v := r.URL.Query().Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return badRequest("%s must be an integer", p.name)
			}
			*p.dst = &n
		}
	}
	if f.Limit == nil { // a session is read whole when it fits one page
		n := a.cfg.MaxPageSize
		f.Limit = &n
	}
	limit, offset, err := a.page(f)
	if err != nil {
		return err
	}
	cond, args, err := a.where(c, f)
	if err != nil {
		return err
	}
	resp := sessionResponse{SessionID: id, Limit: limit, Offset: offset, ByAction: map[string]int64{},
		Users: []string{}, Entries: []json.RawMessage{}}
	for _, v := range audit.Verdicts {
		resp.ByAction[string(v)] = 0
	}
	rows, err := a.pool.Query(ctx, `SELECT policy_decision, count(*), min("timestamp"), max("timestamp"),
		array_agg(DISTINCT user_email ORDER BY user_email) FROM `+a.cfg.Table+` WHERE `+cond+` GROUP BY 1`, args...)
	if err != nil {
		return err
	}
	users := map[string]bool{}
	for rows.Next() {
		var v string
		var n int64
		var lo, hi time.Time
		var emails []string
		if err := rows.Scan(&v, &n, &lo, &hi, &emails); err != nil {
			rows.Close()
			return err
		}
		resp.ByAction[v] = n
		resp.Total += n
		if resp.Start == nil || lo.Before(*resp.Start) {
			resp.Start = &lo
		}
		if resp.End == nil || hi.After(*resp.End) {
			resp.End = &hi
		}
		for _, e := range emails {
			if !users[e] {
				users[e] = true
				resp.Users = append(resp.Users, e)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	slices.Sort(resp.Users)
	q := fmt.Sprintf(`SELECT to_jsonb(a) FROM %s a WHERE %s ORDER BY %s LIMIT %d OFFSET %d`, a.cfg.Table, cond, sessionOrder, limit, offset)
	entries, err := a.queryJSON(ctx, q, args...)
	if err != nil {
		return err
	}
	resp.Entries = append(resp.Entries, entries...)
	writeJSON(w, http.StatusOK, resp)
	return nil
}
