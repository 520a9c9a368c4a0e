package auditapiextension

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

type searchBody struct {
	Entries []map[string]any `json:"entries"`
	Total   int64            `json:"total"`
	Limit   int              `json:"limit"`
	Offset  int              `json:"offset"`
}

// Two tenants in one database: every endpoint shows a tenant license its own tenant only; an admin license reads
// across tenants.
func TestTenantIsolationOnEveryEndpoint(t *testing.T) {
	var verifyKey string
	fx := newFixture(t, func(c *Config) { c.VerifyPublicKeyFiles = []string{verifyKey} })
	a := fx.tenantReader("tenant-a")
	admin := fx.globalAdmin()
	require.Len(t, fx.idsOf["tenant-a"], 11)
	require.Len(t, fx.idsOf["tenant-b"], 11)

	// search
	var s searchBody
	r := fx.do(t, "POST", "/api/v1/audit/search", a, `{}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &s)
	assert.EqualValues(t, 11, s.Total)
	assert.Len(t, s.Entries, 11)
	for _, e := range s.Entries {
		assert.Equal(t, "tenant-a", e["tenant_id"])
	}
	assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/search", a, `{"tenant_id":"tenant-b"}`).status)
	r = fx.do(t, "POST", "/api/v1/audit/search", admin, `{}`)
	r.json(t, &s)
	assert.EqualValues(t, 22, s.Total, "admin reads every tenant")
	r = fx.do(t, "POST", "/api/v1/audit/search", admin, `{"tenant_id":"tenant-b","limit":5,"offset":5}`)
	r.json(t, &s)
	assert.EqualValues(t, 11, s.Total)
	assert.Len(t, s.Entries, 5)
	assert.Equal(t, 5, s.Offset)

	// get: another tenant's record is as absent as a missing one
	own, other := fx.idsOf["tenant-a"][0], fx.idsOf["tenant-b"][0]
	r = fx.do(t, "GET", "/api/v1/audit/"+own, a, "")
	require.Equal(t, http.StatusOK, r.status)
	var rec map[string]any
	r.json(t, &rec)
	assert.Equal(t, own, rec["id"])
	assert.Equal(t, http.StatusNotFound, fx.do(t, "GET", "/api/v1/audit/"+other, a, "").status)
	assert.Equal(t, http.StatusNotFound, fx.do(t, "GET", "/api/v1/audit/aud_missing", a, "").status)
	assert.Equal(t, http.StatusOK, fx.do(t, "GET", "/api/v1/audit/"+other, admin, "").status)

	// tenant
	assert.Equal(t, http.StatusOK, fx.do(t, "GET", "/api/v1/audit/tenant/tenant-a", a, "").status)
	assert.Equal(t, http.StatusForbidden, fx.do(t, "GET", "/api/v1/audit/tenant/tenant-b", a, "").status)
	r = fx.do(t, "GET", "/api/v1/audit/tenant/tenant-b", admin, "")
	r.json(t, &s)
	assert.EqualValues(t, 11, s.Total)

	// report
	var rep reportResponse
	r = fx.do(t, "POST", "/api/v1/audit/report", a, fixtureReportWindow)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &rep)
	assert.EqualValues(t, 11, rep.Total)
	r = fx.do(t, "POST", "/api/v1/audit/report", admin, fixtureReportWindow)
	r.json(t, &rep)
	assert.EqualValues(t, 22, rep.Total)
	assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/report", a, `{"tenant_id":"tenant-b"}`).status)

	// export
	r = fx.do(t, "POST", "/api/v1/audit/export?format=json", a, `{}`)
	require.Equal(t, http.StatusOK, r.status)
	var rows []map[string]any
	r.json(t, &rows)
	assert.Len(t, rows, 11)
	for _, row := range rows {
		assert.Equal(t, "tenant-a", row["tenant_id"])
	}
	assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/export?format=csv", a, `{"tenant_id":"tenant-b"}`).status)

	// verify: the caller's chains only
	var ver struct {
		OK     bool `json:"ok"`
		Chains []struct {
			TenantID string `json:"tenant_id"`
		} `json:"chains"`
	}
	r = fx.do(t, "GET", "/api/v1/audit/verify", a, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &ver)
	require.NotEmpty(t, ver.Chains)
	for _, c := range ver.Chains {
		assert.Equal(t, "tenant-a", c.TenantID)
	}
	assert.False(t, ver.OK, "the fixture was chained without a signing key: its tail is not covered")
}

func TestAuthenticationRequired(t *testing.T) {
	fx := newFixture(t, nil)
	for _, lic := range []string{"", "not-a-license"} {
		for _, p := range [][2]string{{"GET", "/api/v1/audit/x"}, {"POST", "/api/v1/audit/search"}, {"POST", "/api/v1/audit/report"},
			{"POST", "/api/v1/audit/export"}, {"GET", "/api/v1/audit/tenant/tenant-a"}, {"GET", "/api/v1/audit/verify"}} {
			r := fx.do(t, p[0], p[1], lic, `{}`)
			assert.Equal(t, http.StatusUnauthorized, r.status, p)
			assert.NotContains(t, string(r.body), "not-a-license")
		}
	}
	// The page itself needs no license (it holds no data).
	r := fx.do(t, "GET", "/audit/", "", "")
	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), "Log Explorer")
}

func TestInputValidation(t *testing.T) {
	fx := newFixture(t, nil)
	a := fx.tenantReader("tenant-a")
	for body, want := range map[string]string{
		`{"start_time":"yesterday"}`: "start_time must be an RFC 3339 time",
		`{"limit":0}`:                "limit must be between 1 and 1000",
		`{"limit":5000}`:             "limit must be between 1 and 1000",
		`{"offset":-1}`:              "offset must be between",
		`{"colour":"red"}`:           `unknown field colour`,
		`{"action":"maybe"}`:         "action must be one of",
		`{"start_time":"2026-02-01T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}`: "end_time is before start_time",
		`{"limit":"ten"}`: "field limit has the wrong type",
		`[1,2]`:           "not a JSON object",
	} {
		r := fx.do(t, "POST", "/api/v1/audit/search", a, body)
		assert.Equal(t, http.StatusBadRequest, r.status, body)
		assert.Contains(t, string(r.body), want, body)
	}
	r := fx.do(t, "POST", "/api/v1/audit/report", a, `{"start_time":"2024-01-01T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}`)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, string(r.body), "at most one year")
	assert.Equal(t, http.StatusBadRequest, fx.do(t, "POST", "/api/v1/audit/export?format=xml", a, `{}`).status)
	assert.Equal(t, http.StatusRequestEntityTooLarge, fx.do(t, "POST", "/api/v1/audit/search", a, `{"user_email":"`+strings.Repeat("x", 70<<10)+`"}`).status)
}

func TestFiltersAndReport(t *testing.T) {
	fx := newFixture(t, nil)
	a := fx.tenantReader("tenant-a")
	var s searchBody
	fx.do(t, "POST", "/api/v1/audit/search", a, `{"action":"redacted"}`).json(t, &s)
	require.NotEmpty(t, s.Entries)
	for _, e := range s.Entries {
		assert.Equal(t, "redacted", e["policy_decision"])
	}
	fx.do(t, "POST", "/api/v1/audit/search", a, `{"request_type":"claude_code_user_prompt","origin":"claude-code"}`).json(t, &s)
	require.Len(t, s.Entries, 1)
	assert.Contains(t, s.Entries[0]["query"], "[REDACTED:ssn]")
	fx.do(t, "POST", "/api/v1/audit/search", a, `{"end_time":"2000-01-01T00:00:00Z"}`).json(t, &s)
	assert.Zero(t, s.Total)

	var rep reportResponse
	fx.do(t, "POST", "/api/v1/audit/report", a, fixtureReportWindow).json(t, &rep)
	assert.EqualValues(t, 11, rep.Total)
	var sum int64
	for _, n := range rep.ByAction {
		sum += n
	}
	assert.Equal(t, rep.Total, sum)
	assert.Positive(t, rep.ByAction["redacted"])
	require.NotNil(t, rep.AvgLatencyMS)
	assert.Positive(t, rep.LatencyCount)
	require.NotEmpty(t, rep.TopPolicies)
	assert.Equal(t, "sys_pii_redaction", rep.TopPolicies[0].PolicyID)
	// Nothing measured: the average is null, not 0.
	fx.do(t, "POST", "/api/v1/audit/report", a, `{"request_type":"claude_code_user_prompt"}`).json(t, &rep)
	assert.Nil(t, rep.AvgLatencyMS)
	assert.Zero(t, rep.LatencyCount)
}

func TestExportCapHeadersAndCSVNeutralisation(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.ExportRowCap = 5 })
	// A record whose masked content starts like a spreadsheet formula.
	ld := audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{})
	first := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	first.Attributes().PutStr(audit.AttrQuery, `=HYPERLINK("http://evil.example","x")`)
	keepOnly(ld, first)
	storeLogs(t, fx.dsn, ld)
	a := fx.tenantReader("tenant-a")

	r := fx.do(t, "POST", "/api/v1/audit/export?format=csv", a, `{}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.Equal(t, "true", r.header.Get(HeaderTruncated))
	assert.Equal(t, "5", r.header.Get(HeaderRowCap))
	records, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 6, "header + 5 rows")
	assert.Equal(t, audit.Columns, records[0])

	r = fx.do(t, "POST", "/api/v1/audit/export?format=csv", a, `{"request_type":"`+governancetest.FixtureFirstRequestType(t)+`"}`)
	assert.Empty(t, r.header.Get(HeaderTruncated), "under the cap: no truncation headers")
	records, err = csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	require.NoError(t, err)
	found := false
	for _, row := range records[1:] {
		for _, cell := range row {
			assert.False(t, cell != "" && strings.ContainsRune("=+-@", rune(cell[0])), "unneutralised cell %q", cell)
			if strings.HasPrefix(cell, `'=HYPERLINK`) {
				found = true
			}
		}
	}
	assert.True(t, found, "the formula cell is kept, neutralised")

	var rows []json.RawMessage
	r = fx.do(t, "POST", "/api/v1/audit/export?format=json", a, `{}`)
	require.NoError(t, json.Unmarshal(r.body, &rows))
	assert.Len(t, rows, 5)
	assert.Equal(t, "true", r.header.Get(HeaderTruncated))
}

func keepOnly(ld plog.Logs, keep plog.LogRecord) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool { return lr != keep })
		}
	}
}
