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

// setAll sets attribute key to v on every record of ld.
func setAll(ld plog.Logs, key, v string) plog.Logs {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				lr.Attributes().PutStr(key, v)
			}
		}
	}
	return ld
}

// readRoutes are every /api/ route, with a body where it takes one.
func readRoutes(fx *fixture) [][3]string {
	return [][3]string{
		{"POST", "/api/v1/audit/search", `{}`},
		{"POST", "/api/v1/audit/report", `{}`},
		{"POST", "/api/v1/audit/export?format=json", `{}`},
		{"POST", "/api/v1/audit/export?format=csv", `{}`},
		{"GET", "/api/v1/audit/" + fx.idsOf["tenant-a"][0], ``},
		{"GET", "/api/v1/audit/tenant/tenant-a", ``},
		{"GET", "/api/v1/audit/verify", ``},
	}
}

// Issue 17, finding 4: what each scope reads, over real HTTP against a real Postgres. tenant-a (org-tenant-a) holds
// the 11 fixture records plus 11 of alice's and 11 of her colleague bob's; tenant-c is a second tenant of
// org-tenant-a (11 records); tenant-b is another organisation (11 records).
func TestReadScopes(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.VerifyPublicKeyFiles = []string{""} })
	alice := setAll(audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{}), audit.AttrUserEmail, "alice@example.com")
	bob := setAll(audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{}), audit.AttrUserEmail, "bob@example.com")
	tenantC := setAll(audittest.Renumber(governancetest.Governed(t, "tenant-c"), time.Time{}), audit.AttrOrgID, "org-tenant-a")
	storeLogs(t, fx.dsn, alice, bob, tenantC)
	bobIDs, err := pgxQueryStrings(t, fx.dsn, "SELECT id FROM audit_logs WHERE user_email = 'bob@example.com'")
	require.NoError(t, err)
	require.Len(t, bobIDs, 11)
	tenantB := fx.idsOf["tenant-b"][0]

	total := func(t *testing.T, lic, body string) int64 {
		t.Helper()
		r := fx.do(t, "POST", "/api/v1/audit/search", lic, body)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var s searchBody
		r.json(t, &s)
		return s.Total
	}

	t.Run("ingest license gets 403 on every route", func(t *testing.T) {
		ingest := fx.issue(claims("tenant-a", license.ScopeIngest))
		noScope := claims("tenant-a", "") // a license issued before scopes existed
		legacy := fx.issue(noScope)
		dev := claims("tenant-a", license.ScopeIngest)
		dev.Email = "alice@example.com" // the per-developer license `govctl dev init` puts on every laptop
		for _, lic := range []string{ingest, legacy, fx.issue(dev)} {
			for _, rt := range readRoutes(fx) {
				r := fx.do(t, rt[0], rt[1], lic, rt[2])
				assert.Equal(t, http.StatusForbidden, r.status, rt[1])
				assert.Contains(t, string(r.body), "scope ingest", rt[1])
			}
		}
	})

	t.Run("developer read license sees only its own records", func(t *testing.T) {
		c := claims("tenant-a", license.ScopeRead)
		c.Email = "alice@example.com"
		lic := fx.issue(c)
		var s searchBody
		r := fx.do(t, "POST", "/api/v1/audit/search", lic, `{"limit":100}`)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r.json(t, &s)
		assert.EqualValues(t, 11, s.Total)
		for _, e := range s.Entries {
			assert.Equal(t, "alice@example.com", e["user_email"])
		}
		assert.EqualValues(t, 11, total(t, lic, `{"user_email":"Alice@example.com"}`))
		r = fx.do(t, "POST", "/api/v1/audit/search", lic, `{"user_email":"bob@example.com"}`)
		assert.Equal(t, http.StatusForbidden, r.status, "a colleague's records are refused")
		assert.Equal(t, http.StatusNotFound, fx.do(t, "GET", "/api/v1/audit/"+bobIDs[0], lic, "").status, "a colleague's record is absent")
		assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/search", lic, `{"tenant_id":"tenant-c"}`).status)

		var rows []map[string]any
		r = fx.do(t, "POST", "/api/v1/audit/export?format=json", lic, `{}`)
		require.Equal(t, http.StatusOK, r.status)
		r.json(t, &rows)
		assert.Len(t, rows, 11)
		for _, row := range rows {
			assert.Equal(t, "alice@example.com", row["user_email"])
		}
		var rep reportResponse
		fx.do(t, "POST", "/api/v1/audit/report", lic, fixtureReportWindow).json(t, &rep)
		assert.EqualValues(t, 11, rep.Total)
		r = fx.do(t, "GET", "/api/v1/audit/tenant/tenant-a", lic, "")
		r.json(t, &s)
		assert.EqualValues(t, 11, s.Total)
	})

	t.Run("read license granted the tenant", func(t *testing.T) {
		lic := fx.tenantReader("tenant-a")
		assert.EqualValues(t, 33, total(t, lic, `{}`))
		assert.EqualValues(t, 11, total(t, lic, `{"user_email":"bob@example.com"}`))
		assert.Equal(t, http.StatusOK, fx.do(t, "GET", "/api/v1/audit/"+bobIDs[0], lic, "").status)
		assert.Equal(t, http.StatusForbidden, fx.do(t, "GET", "/api/v1/audit/tenant/tenant-c", lic, "").status)
		assert.Equal(t, http.StatusNotFound, fx.do(t, "GET", "/api/v1/audit/"+tenantB, lic, "").status)
	})

	t.Run("read license with neither email nor read_tenant", func(t *testing.T) {
		r := fx.do(t, "POST", "/api/v1/audit/search", fx.issue(claims("tenant-a", license.ScopeRead)), `{}`)
		assert.Equal(t, http.StatusForbidden, r.status)
		assert.Contains(t, string(r.body), "read_tenant")
	})

	t.Run("admin is limited to its organisation", func(t *testing.T) {
		lic := fx.issue(claims("tenant-a", license.ScopeAdmin))
		assert.EqualValues(t, 44, total(t, lic, `{}`), "tenant-a and tenant-c, not tenant-b")
		assert.EqualValues(t, 11, total(t, lic, `{"tenant_id":"tenant-c"}`))
		assert.EqualValues(t, 0, total(t, lic, `{"tenant_id":"tenant-b"}`))
		assert.Equal(t, http.StatusNotFound, fx.do(t, "GET", "/api/v1/audit/"+tenantB, lic, "").status)
		assert.Equal(t, http.StatusOK, fx.do(t, "GET", "/api/v1/audit/"+bobIDs[0], lic, "").status)
		var s searchBody
		fx.do(t, "GET", "/api/v1/audit/tenant/tenant-b", lic, "").json(t, &s)
		assert.Zero(t, s.Total)
		var rep reportResponse
		fx.do(t, "POST", "/api/v1/audit/report", lic, fixtureReportWindow).json(t, &rep)
		assert.EqualValues(t, 44, rep.Total)
	})

	t.Run("global admin reads every organisation", func(t *testing.T) {
		lic := fx.globalAdmin()
		assert.EqualValues(t, 55, total(t, lic, `{}`))
		assert.EqualValues(t, 11, total(t, lic, `{"tenant_id":"tenant-b"}`))
		assert.Equal(t, http.StatusOK, fx.do(t, "GET", "/api/v1/audit/"+tenantB, lic, "").status)
	})

	t.Run("a free-text admin tier grants nothing", func(t *testing.T) {
		c := claims("tenant-a", license.ScopeIngest)
		c.Tier = "admin"
		assert.Equal(t, http.StatusForbidden, fx.do(t, "POST", "/api/v1/audit/search", fx.issue(c), `{}`).status)
		c = claims("tenant-a", license.ScopeRead)
		c.Tier, c.ReadTenant = "admin", true
		assert.EqualValues(t, 33, total(t, fx.issue(c), `{}`), "tier admin on a read license reads its tenant only")
	})
}

// The rows of a JSON export are records, never the error marker, when the export completes.
func exportRows(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(body, &rows), string(body))
	return rows
}
