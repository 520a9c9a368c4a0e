package auditapiextension

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// fixtureSession is the session id of the captured Claude Code session every fixture record carries.
const fixtureSession = "b202ba49-6acd-41fe-8ea9-ba982ec1a75d"

// spread sets the event times of ld's records to start, start+step, start+2*step, ... in record order.
func spread(ld plog.Logs, start time.Time, step time.Duration) plog.Logs {
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				lr.Attributes().PutStr(audit.AttrTimestamp, start.Add(time.Duration(i)*step).UTC().Format(time.RFC3339Nano))
				i++
			}
		}
	}
	return ld
}

// scopeFixture is the data of TestReadScopes: tenant-a (org-tenant-a) holds the 11 fixture records plus 11 of
// alice's and 11 of her colleague bob's; tenant-c is a second tenant of org-tenant-a (11 records); tenant-b is another
// organisation (11 records). Every record is of the one captured session.
func scopeFixture(t *testing.T) *fixture {
	t.Helper()
	fx := newFixture(t, nil)
	alice := setAll(audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{}), audit.AttrUserEmail, "alice@example.com")
	bob := setAll(audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{}), audit.AttrUserEmail, "bob@example.com")
	tenantC := setAll(audittest.Renumber(governancetest.Governed(t, "tenant-c"), time.Time{}), audit.AttrOrgID, "org-tenant-a")
	storeLogs(t, fx.dsn, alice, bob, tenantC)
	return fx
}

type developersBody struct {
	Total   int64          `json:"total"`
	Entries []developerRow `json:"entries"`
}

// The session view, the activity chart and the per-developer breakdown read exactly what search reads for the same
// license: every scope of TestReadScopes, over real HTTP against a real Postgres.
func TestAggregateAndSessionScopes(t *testing.T) {
	fx := scopeFixture(t)
	sessionPath := "/api/v1/audit/session/" + fixtureSession

	type want struct {
		records    int64
		developers []string // tenant/user_email, most records first then by email
	}
	read := func(t *testing.T, lic string, w want) {
		t.Helper()
		var s searchBody
		r := fx.do(t, "POST", "/api/v1/audit/search", lic, `{}`)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r.json(t, &s)
		require.Equal(t, w.records, s.Total, "search, the reference")

		var act activityResponse
		r = fx.do(t, "POST", "/api/v1/audit/activity", lic, `{}`)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r.json(t, &act)
		assert.Equal(t, w.records, act.Total, "activity")
		var inBuckets int64
		for _, b := range act.Buckets {
			inBuckets += b.Total
		}
		assert.Equal(t, w.records, inBuckets, "every record is in a bucket")

		var dev developersBody
		r = fx.do(t, "POST", "/api/v1/audit/developers", lic, `{}`)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r.json(t, &dev)
		assert.EqualValues(t, len(w.developers), dev.Total, "developers")
		var got []string
		var sum int64
		for _, d := range dev.Entries {
			got = append(got, d.TenantID+"/"+d.UserEmail)
			sum += d.Records
			assert.EqualValues(t, 1, d.Sessions)
		}
		assert.Equal(t, w.developers, got)
		assert.Equal(t, w.records, sum)

		var sess sessionResponse
		r = fx.do(t, "GET", sessionPath, lic, "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r.json(t, &sess)
		assert.Equal(t, w.records, sess.Total, "session")
		assert.Len(t, sess.Entries, int(w.records))
	}

	t.Run("ingest license gets 403", func(t *testing.T) {
		for _, lic := range []string{fx.issue(claims("tenant-a", license.ScopeIngest)), fx.issue(claims("tenant-a", ""))} {
			assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/activity", lic, `{}`).status)
			assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/developers", lic, `{}`).status)
			assert.Equal(t, http.StatusForbidden, fx.do(t, "GET", sessionPath, lic, "").status)
		}
		for _, rt := range [][2]string{{"POST", "/api/v1/audit/activity"}, {"POST", "/api/v1/audit/developers"}, {"GET", sessionPath}} {
			assert.Equal(t, http.StatusUnauthorized, fx.do(t, rt[0], rt[1], "", `{}`).status, rt[1])
		}
	})

	t.Run("developer read license sees only its own records", func(t *testing.T) {
		c := claims("tenant-a", license.ScopeRead)
		c.Email = "alice@example.com"
		lic := fx.issue(c)
		read(t, lic, want{11, []string{"tenant-a/alice@example.com"}})

		var sess sessionResponse
		fx.do(t, "GET", sessionPath, lic, "").json(t, &sess)
		assert.Equal(t, []string{"alice@example.com"}, sess.Users, "the shared session shows alice her own events only")
		for _, e := range sess.Entries {
			var rec map[string]any
			require.NoError(t, json.Unmarshal(e, &rec))
			assert.Equal(t, "alice@example.com", rec["user_email"])
		}
		var dev developersBody
		fx.do(t, "POST", "/api/v1/audit/developers", lic, `{}`).json(t, &dev)
		require.Len(t, dev.Entries, 1)
		d := dev.Entries[0]
		assert.EqualValues(t, 2, d.ByAction["redacted"])
		assert.EqualValues(t, 9, d.ByAction["allowed"])
		require.NotNil(t, d.TokensUsed)
		assert.EqualValues(t, 2*1225, *d.TokensUsed, "two api_request events of 1,200 + 25 tokens")
		require.NotNil(t, d.Cost)
		assert.InDelta(t, 2*0.00561, *d.Cost, 1e-9)

		// A filter for a colleague or another tenant is refused as on search.
		for _, body := range []string{`{"user_email":"bob@example.com"}`, `{"tenant_id":"tenant-c"}`} {
			assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/activity", lic, body).status, body)
			assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/developers", lic, body).status, body)
		}
	})

	t.Run("read license granted the tenant", func(t *testing.T) {
		lic := fx.tenantReader("tenant-a")
		read(t, lic, want{33, []string{"tenant-a/alice@example.com", "tenant-a/bob@example.com", "tenant-a/client:client-tenant-a"}})
		var dev developersBody
		fx.do(t, "POST", "/api/v1/audit/developers", lic, `{"user_email":"bob@example.com"}`).json(t, &dev)
		assert.EqualValues(t, 1, dev.Total)
		assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/activity", lic, `{"tenant_id":"tenant-c"}`).status)
	})

	t.Run("read license with neither email nor read_tenant", func(t *testing.T) {
		lic := fx.issue(claims("tenant-a", license.ScopeRead))
		assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/activity", lic, `{}`).status)
		assert.Equal(t, http.StatusForbidden, fx.do(t, "GET", sessionPath, lic, "").status)
	})

	t.Run("admin is limited to its organisation", func(t *testing.T) {
		lic := fx.issue(claims("tenant-a", license.ScopeAdmin))
		read(t, lic, want{44, []string{"tenant-a/alice@example.com", "tenant-a/bob@example.com",
			"tenant-a/client:client-tenant-a", "tenant-c/client:client-tenant-c"}})
		var act activityResponse
		fx.do(t, "POST", "/api/v1/audit/activity", lic, `{"tenant_id":"tenant-b"}`).json(t, &act)
		assert.Zero(t, act.Total, "another organisation's tenant reads as empty")
		var dev developersBody
		fx.do(t, "POST", "/api/v1/audit/developers", lic, `{"tenant_id":"tenant-b"}`).json(t, &dev)
		assert.Zero(t, dev.Total)
		assert.Empty(t, dev.Entries)
	})

	t.Run("global admin reads every organisation", func(t *testing.T) {
		read(t, fx.globalAdmin(), want{55, []string{"tenant-a/alice@example.com", "tenant-a/bob@example.com",
			"tenant-a/client:client-tenant-a", "tenant-b/client:client-tenant-b", "tenant-c/client:client-tenant-c"}})
	})
}

// The session view lists a session's events in the order they happened: by event time and, where several share a
// timestamp, by Claude Code's event.sequence (prompt -> tool decision -> API request -> tool result -> response).
func TestSessionEventsInOrder(t *testing.T) {
	fx := newFixture(t, nil)
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	// Every event at one instant, and the gateway's chain sequence reversed (as when a session's events reach
	// gateways in another order): only Claude Code's event.sequence can order them.
	same := setAll(audittest.Renumber(governancetest.Governed(t, "tenant-a"), at), audit.AttrSessionID, "sess-same-instant")
	i := int64(0)
	for _, rl := range same.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				lr.Attributes().PutInt(audit.AttrChainSeq, 100-i)
				i++
			}
		}
	}
	storeLogs(t, fx.dsn, same)
	lic := fx.tenantReader("tenant-a")

	var sess struct {
		Total    int64            `json:"total"`
		ByAction map[string]int64 `json:"by_action"`
		Start    time.Time        `json:"start_time"`
		End      time.Time        `json:"end_time"`
		Entries  []struct {
			RequestType string         `json:"request_type"`
			Query       *string        `json:"query"`
			Metadata    map[string]any `json:"metadata"`
		} `json:"entries"`
	}
	r := fx.do(t, "GET", "/api/v1/audit/session/sess-same-instant", lic, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &sess)
	require.EqualValues(t, 11, sess.Total)
	assert.True(t, sess.Start.Equal(at) && sess.End.Equal(at))
	assert.EqualValues(t, 2, sess.ByAction["redacted"])
	var order []string
	for i, e := range sess.Entries {
		order = append(order, e.RequestType)
		assert.EqualValues(t, i, e.Metadata["event.sequence"])
	}
	assert.Equal(t, []string{"claude_code_managed_settings_resolved", "claude_code_plugin_loaded", "claude_code_plugin_loaded",
		"claude_code_plugin_loaded", "claude_code_plugin_loaded", "claude_code_user_prompt", "claude_code_tool_decision",
		"claude_code_api_request", "claude_code_tool_result", "claude_code_api_request", "claude_code_assistant_response"}, order)
	require.NotNil(t, sess.Entries[5].Query)
	assert.Contains(t, *sess.Entries[5].Query, "[REDACTED:ssn]", "masked content")
	assert.NotContains(t, string(r.body), "123-45-6789")

	// Paging through a session keeps the order.
	r = fx.do(t, "GET", "/api/v1/audit/session/sess-same-instant?limit=3&offset=5", lic, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &sess)
	require.Len(t, sess.Entries, 3)
	assert.Equal(t, "claude_code_user_prompt", sess.Entries[0].RequestType)
	assert.EqualValues(t, 11, sess.Total, "the summary covers the whole session")

	var empty sessionResponse
	fx.do(t, "GET", "/api/v1/audit/session/no-such-session", lic, "").json(t, &empty)
	assert.Zero(t, empty.Total)
	assert.Empty(t, empty.Entries)
	assert.Nil(t, empty.Start)
	for _, bad := range []string{"/api/v1/audit/session/" + "a%20b", "/api/v1/audit/session/x?limit=0", "/api/v1/audit/session/x?offset=-1",
		"/api/v1/audit/session/x?limit=ten"} {
		assert.Equal(t, http.StatusBadRequest, fx.do(t, "GET", bad, lic, "").status, bad)
	}
}

// The activity series: fixed-width buckets aligned to round times, empty buckets included, per verdict.
func TestActivityBuckets(t *testing.T) {
	fx := newFixture(t, nil)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, off := range []time.Duration{0, 10 * time.Minute, 25 * time.Minute} {
		storeLogs(t, fx.dsn, setAll(audittest.Renumber(governancetest.Governed(t, "tenant-a"), t0.Add(off)), audit.AttrSessionID, "sess-activity"))
	}
	lic := fx.tenantReader("tenant-a")
	window := `{"session_id":"sess-activity","start_time":"2026-11-20T10:00:00Z","end_time":"2026-11-20T10:30:00Z"}`

	var act activityResponse
	r := fx.do(t, "POST", "/api/v1/audit/activity?buckets=6", lic, window)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &act)
	assert.EqualValues(t, 300, act.BucketSeconds, "30 minutes in 6 buckets: 5 minutes")
	require.Len(t, act.Buckets, 6)
	var totals []int64
	for _, b := range act.Buckets {
		totals = append(totals, b.Total)
	}
	assert.Equal(t, []int64{11, 0, 11, 0, 0, 11}, totals)
	assert.True(t, act.Buckets[0].Start.Equal(t0))
	assert.EqualValues(t, 2, act.Buckets[5].ByAction["redacted"])
	assert.EqualValues(t, 9, act.Buckets[5].ByAction["allowed"])
	assert.Zero(t, act.Buckets[1].ByAction["blocked"])

	// Without a window: the span of the matching records, in at most 60 buckets.
	r = fx.do(t, "POST", "/api/v1/audit/activity", lic, `{"session_id":"sess-activity"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &act)
	assert.EqualValues(t, 33, act.Total)
	assert.EqualValues(t, 30, act.BucketSeconds, "25 minutes in at most 60 buckets: 30 seconds")
	assert.True(t, act.Start.Equal(t0))
	assert.LessOrEqual(t, len(act.Buckets), 61)
	assert.EqualValues(t, 11, act.Buckets[0].Total)
	assert.EqualValues(t, 11, act.Buckets[len(act.Buckets)-1].Total, "the newest record is inside the window")

	// Action filter: only redacted records are counted.
	r = fx.do(t, "POST", "/api/v1/audit/activity?buckets=6", lic, `{"session_id":"sess-activity","action":"redacted","start_time":"2026-11-20T10:00:00Z","end_time":"2026-11-20T10:30:00Z"}`)
	r.json(t, &act)
	assert.EqualValues(t, 6, act.Total)

	// Nothing matches: an empty series.
	r = fx.do(t, "POST", "/api/v1/audit/activity", lic, `{"session_id":"none"}`)
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &act)
	assert.Zero(t, act.Total)
	assert.Empty(t, act.Buckets)

	for _, bad := range []struct{ path, body string }{
		{"/api/v1/audit/activity?buckets=0", `{}`},
		{"/api/v1/audit/activity?buckets=1001", `{}`},
		{"/api/v1/audit/activity", `{"limit":5}`},
		{"/api/v1/audit/activity", `{"start_time":"2024-01-01T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}`},
		{"/api/v1/audit/activity", `{"bucket":"1h"}`},
		{"/api/v1/audit/developers", `{"limit":0}`},
		{"/api/v1/audit/developers", `{"action":"maybe"}`},
	} {
		assert.Equal(t, http.StatusBadRequest, fx.do(t, "POST", bad.path, lic, bad.body).status, bad.path+" "+bad.body)
	}
}

func TestBucketFor(t *testing.T) {
	for _, c := range []struct {
		window time.Duration
		n      int
		want   time.Duration
	}{
		{0, 60, time.Second},
		{500 * time.Millisecond, 60, time.Second},
		{time.Hour, 60, time.Minute},
		{time.Hour + time.Second, 60, 2 * time.Minute},
		{24 * time.Hour, 60, 30 * time.Minute},
		{30 * 24 * time.Hour, 60, 12 * time.Hour},
		{366 * 24 * time.Hour, 60, 7 * 24 * time.Hour},
		{366 * 24 * time.Hour, 5, 74 * 24 * time.Hour},
	} {
		assert.Equal(t, c.want, bucketFor(c.window, c.n), "%s / %d", c.window, c.n)
	}
}
