package auditapiextension

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/license"
)

// Issue 17, finding 5: GET /api/v1/audit/verify needs a read license for the whole tenant or an admin license (a
// per-developer read license would verify — and list — every developer's chain positions), an organisation's admin
// verifies only its organisation's tenants, and the report is streamed chain by chain with the registry count.
func TestVerifyEndpointScopesAndStream(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.VerifyPublicKeyFiles = []string{""} })

	dev := claims("tenant-a", license.ScopeRead)
	dev.Email = "alice@example.com"
	r := fx.do(t, "GET", "/api/v1/audit/verify", fx.issue(dev), "")
	assert.Equal(t, http.StatusForbidden, r.status, string(r.body))

	orgAdmin := claims("tenant-a", license.ScopeAdmin)
	r = fx.do(t, "GET", "/api/v1/audit/verify?tenant_id=tenant-b", fx.issue(orgAdmin), "")
	assert.Equal(t, http.StatusForbidden, r.status, "tenant-b belongs to another organisation: %s", r.body)

	var ver struct {
		OK               *bool `json:"ok"`
		RecordsChecked   int   `json:"records_checked"`
		RegisteredChains *int  `json:"registered_chains"`
		Chains           []struct {
			TenantID string `json:"tenant_id"`
			Records  int    `json:"records_checked"`
		} `json:"chains"`
	}
	for _, lic := range []string{fx.tenantReader("tenant-a"), fx.issue(orgAdmin)} {
		r = fx.do(t, "GET", "/api/v1/audit/verify", lic, "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r.json(t, &ver)
		require.NotNil(t, ver.OK)
		require.NotNil(t, ver.RegisteredChains, "the streamed report ends with the registry count")
		require.NotEmpty(t, ver.Chains)
		n := 0
		for _, c := range ver.Chains {
			assert.Equal(t, "tenant-a", c.TenantID)
			n += c.Records
		}
		assert.Equal(t, 11, n)
		assert.Equal(t, 11, ver.RecordsChecked)
	}
	r = fx.do(t, "GET", "/api/v1/audit/verify?tenant_id=tenant-b", fx.globalAdmin(), "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &ver)
	for _, c := range ver.Chains {
		assert.Equal(t, "tenant-b", c.TenantID)
	}
}
