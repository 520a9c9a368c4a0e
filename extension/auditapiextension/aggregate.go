package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/govcol/govcol/internal/audit"
)

// The aggregate endpoints behind the Log Explorer's activity chart and per-developer breakdown. Both take the
// search filter body and build their WHERE clause with where, so that they read exactly what search reads for the
// same license (a per-developer read license its own records, an organisation's admin its organisation, ...).

// defaultActivityBuckets is how many buckets the activity chart asks for when the request does not say.
const defaultActivityBuckets = 60

// bucketSteps are the bucket widths the activity series uses: the smallest that gives at most the requested number
// of buckets over the window. Past the last step, whole days.
var bucketSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour,
}

// bucketOrigin aligns buckets to round times (date_bin's origin): minutes start at :00, days at 00:00 UTC.
var bucketOrigin = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// bucketFor is the bucket width for a window and a maximum number of buckets.
func bucketFor(window time.Duration, n int) time.Duration {
	for _, s := range bucketSteps {
		if window <= s*time.Duration(n) {
			return s
		}
	}
	day := 24 * time.Hour
	perBucket := window / time.Duration(n)
	return (perBucket + day - 1) / day * day
}

type activityBucket struct {
	Start    time.Time        `json:"start"`
	Total    int64            `json:"total"`
	ByAction map[string]int64 `json:"by_action"`
}

type activityResponse struct {
	Start         time.Time        `json:"start_time"`
	End           time.Time        `json:"end_time"`
	BucketSeconds float64          `json:"bucket_seconds"`
	Total         int64            `json:"total"`
	Buckets       []activityBucket `json:"buckets"`
}

func verdictCounts() map[string]int64 {
	m := make(map[string]int64, len(audit.Verdicts))
	for _, v := range audit.Verdicts {
		m[string(v)] = 0
	}
	return m
}

// activity serves POST /api/v1/audit/activity?buckets=N: records over time, per verdict, for the search filters.
// Without start_time/end_time the window is the span of the matching records (at most one year, ending at the
// newest), so that the chart shows the filtered set rather than a fixed calendar window.
func (a *auditAPI) activity(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	n := defaultActivityBuckets
	if v := r.URL.Query().Get("buckets"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > a.cfg.MaxPageSize {
			return badRequest("buckets must be between 1 and %d", a.cfg.MaxPageSize)
		}
	}
	f, err := decodeFilter(r)
	if err != nil {
		return err
	}
	if f.Limit != nil || f.Offset != nil {
		return badRequest("limit and offset do not apply to activity")
	}
	if !f.start.IsZero() && !f.end.IsZero() && f.end.Sub(f.start) > maxReportWindow {
		return badRequest("the activity window is at most one year")
	}
	if f.start.IsZero() || f.end.IsZero() {
		cond, args, err := a.where(c, f)
		if err != nil {
			return err
		}
		var lo, hi *time.Time
		if err := a.pool.QueryRow(ctx, `SELECT min("timestamp"), max("timestamp") FROM `+a.cfg.Table+` WHERE `+cond, args...).
			Scan(&lo, &hi); err != nil {
			return err
		}
		if lo == nil { // nothing matches: an empty series over the window asked for
			if f.end.IsZero() {
				f.end = time.Now().UTC()
			}
			if f.start.IsZero() {
				f.start = f.end
			}
			writeJSON(w, http.StatusOK, activityResponse{Start: f.start, End: f.end, BucketSeconds: 1, Buckets: []activityBucket{}})
			return nil
		}
		if f.end.IsZero() {
			f.end = hi.Add(time.Microsecond) // end is exclusive; Postgres keeps microseconds
		}
		if f.start.IsZero() {
			f.start = *lo
			if f.end.Sub(f.start) > maxReportWindow {
				f.start = f.end.Add(-maxReportWindow)
			}
		}
	}
	bucket := bucketFor(f.end.Sub(f.start), n)
	cond, args, err := a.where(c, f)
	if err != nil {
		return err
	}
	args = append(args, bucket.Seconds(), bucketOrigin)
	q := fmt.Sprintf(`SELECT date_bin(make_interval(secs => $%d), "timestamp", $%d) AS b, policy_decision, count(*)
		FROM %s WHERE %s GROUP BY 1, 2 ORDER BY 1`, len(args)-1, len(args), a.cfg.Table, cond)
	rows, err := a.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	counts := map[int64]map[string]int64{}
	resp := activityResponse{Start: f.start.UTC(), End: f.end.UTC(), BucketSeconds: bucket.Seconds(), Buckets: []activityBucket{}}
	for rows.Next() {
		var b time.Time
		var v string
		var k int64
		if err := rows.Scan(&b, &v, &k); err != nil {
			return err
		}
		key := b.UnixMicro()
		if counts[key] == nil {
			counts[key] = map[string]int64{}
		}
		counts[key][v] += k
		resp.Total += k
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// A dense series: every bucket of the window, empty ones too, so that gaps show as gaps.
	first := bucketOrigin.Add(f.start.Sub(bucketOrigin).Truncate(bucket))
	if f.start.Before(bucketOrigin) {
		first = bucketOrigin.Add(-((bucketOrigin.Sub(f.start) + bucket - 1) / bucket * bucket))
	}
	for t := first; t.Before(f.end); t = t.Add(bucket) {
		ab := activityBucket{Start: t.UTC(), ByAction: verdictCounts()}
		for v, k := range counts[t.UnixMicro()] {
			ab.ByAction[v] = k
			ab.Total += k
		}
		resp.Buckets = append(resp.Buckets, ab)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type developerRow struct {
	TenantID   string           `json:"tenant_id"`
	UserEmail  string           `json:"user_email"`
	Records    int64            `json:"records"`
	Sessions   int64            `json:"sessions"`
	ByAction   map[string]int64 `json:"by_action"`
	TokensUsed *int64           `json:"tokens_used"`
	Cost       *float64         `json:"cost"`
	FirstSeen  time.Time        `json:"first_seen"`
	LastSeen   time.Time        `json:"last_seen"`
}

type developersResponse struct {
	Total   int64          `json:"total"`
	Limit   int            `json:"limit"`
	Offset  int            `json:"offset"`
	Entries []developerRow `json:"entries"`
}

// developers serves POST /api/v1/audit/developers: per developer (tenant and user_email) of the filtered set, the
// records, sessions, verdicts, tokens and cost (null when nothing was measured), most records first; paged like
// search (total counts developers).
func (a *auditAPI) developers(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilter(r)
	if err != nil {
		return err
	}
	limit, offset, err := a.page(f)
	if err != nil {
		return err
	}
	cond, args, err := a.where(c, f)
	if err != nil {
		return err
	}
	resp := developersResponse{Limit: limit, Offset: offset, Entries: []developerRow{}}
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+a.cfg.Table+` WHERE `+cond+
		` GROUP BY tenant_id, user_email) d`, args...).Scan(&resp.Total); err != nil {
		return err
	}
	perVerdict := make([]string, len(audit.Verdicts))
	for i, v := range audit.Verdicts { // constants, not request values
		perVerdict[i] = fmt.Sprintf("count(*) FILTER (WHERE policy_decision = '%s')", v)
	}
	q := fmt.Sprintf(`SELECT tenant_id, user_email, count(*), count(DISTINCT session_id), %s,
		sum(tokens_used)::bigint, sum(cost)::float8, min("timestamp"), max("timestamp")
		FROM %s WHERE %s GROUP BY 1, 2 ORDER BY 3 DESC, 2, 1 LIMIT %d OFFSET %d`,
		strings.Join(perVerdict, ", "), a.cfg.Table, cond, limit, offset)
	rows, err := a.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		d := developerRow{ByAction: verdictCounts()}
		counts := make([]int64, len(audit.Verdicts))
		dst := []any{&d.TenantID, &d.UserEmail, &d.Records, &d.Sessions}
		for i := range counts {
			dst = append(dst, &counts[i])
		}
		dst = append(dst, &d.TokensUsed, &d.Cost, &d.FirstSeen, &d.LastSeen)
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		for i, v := range audit.Verdicts {
			d.ByAction[string(v)] = counts[i]
		}
		d.FirstSeen, d.LastSeen = d.FirstSeen.UTC(), d.LastSeen.UTC()
		resp.Entries = append(resp.Entries, d)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
