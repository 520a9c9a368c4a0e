package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/client"

	"github.com/govcol/govcol/internal/license"
)

// caller is who a request authenticated as and what it may read; everything comes from the license, never from the
// request. The rules (README "Who reads what"):
//
//   - scope ingest (also a license without a scope claim, or an authenticator that sets none): 403 on every route;
//   - scope read with read_tenant: the license's tenant (within its organisation);
//   - scope read with an email: the records of that tenant whose user_email is the email, nothing else;
//   - scope read with neither: 403 (nothing to read);
//   - scope admin: every tenant of the license's organisation; with global: every organisation.
type caller struct {
	// tenant is the license's tenant.
	tenant string
	// admin is a global admin license: it reads every organisation and tenant. (An organisation's admin is not
	// admin here: see orgAdmin.)
	admin bool

	org   string
	scope license.Scope
	// orgAdmin reads every tenant of org.
	orgAdmin bool
	// email, when set, restricts the caller to records with this user_email (a per-developer read license).
	email string
}

// forbidden is the 403 of a license that may not read the audit API at all.
var errIngestOnly = &apiError{http.StatusForbidden, "this license may only send telemetry (scope ingest); reading the audit trail needs a read or admin license"}

func (a *auditAPI) callerOf(ctx context.Context) (caller, error) {
	info := client.FromContext(ctx)
	if info.Auth == nil {
		return caller{}, &apiError{http.StatusUnauthorized, "unauthenticated"}
	}
	str := func(name string) string { v, _ := info.Auth.GetAttribute(name).(string); return v }
	c := caller{tenant: str(license.AuthTenantID), org: str(license.AuthOrgID), scope: license.Scope(str(license.AuthScope))}
	if c.tenant == "" || c.org == "" {
		return caller{}, &apiError{http.StatusUnauthorized, "license without organisation or tenant"}
	}
	switch c.scope {
	case license.ScopeAdmin:
		c.admin = str(license.AuthGlobal) == "true"
		c.orgAdmin = !c.admin
	case license.ScopeRead:
		if str(license.AuthReadTenant) != "true" {
			c.email = str(license.AuthEmail)
			if c.email == "" {
				return caller{}, &apiError{http.StatusForbidden, "a read license needs an email (its own records) or read_tenant (its tenant)"}
			}
		}
	default: // ingest, absent, or anything else
		return caller{}, errIngestOnly
	}
	return c, nil
}

// where builds the WHERE clause of f for c; queries only ever use parameters. A filter asking for more than the
// license may read (another tenant, another developer's email) is refused with 403.
func (a *auditAPI) where(c caller, f filter) (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	switch {
	case c.admin:
	case c.orgAdmin:
		add("org_id = $%d", c.org)
	default:
		if f.TenantID != "" && f.TenantID != c.tenant {
			return "", nil, &apiError{http.StatusForbidden, "a license reads its own tenant only"}
		}
		add("org_id = $%d", c.org)
		add("tenant_id = $%d", c.tenant)
		if c.email != "" {
			if f.UserEmail != "" && !strings.EqualFold(f.UserEmail, c.email) {
				return "", nil, &apiError{http.StatusForbidden, "a per-developer license reads its own records only"}
			}
			add("user_email = $%d", c.email)
			f.UserEmail = ""
		}
		f.TenantID = ""
	}
	if f.TenantID != "" {
		add("tenant_id = $%d", f.TenantID)
	}
	if !f.start.IsZero() {
		add(`"timestamp" >= $%d`, f.start)
	}
	if !f.end.IsZero() {
		add(`"timestamp" < $%d`, f.end)
	}
	for _, p := range []struct{ col, v string }{{"user_email", f.UserEmail}, {"client_id", f.ClientID},
		{"session_id", f.SessionID}, {"request_type", f.RequestType}, {"policy_decision", f.Action}, {"origin", f.Origin}} {
		if p.v != "" {
			add(p.col+" = $%d", p.v)
		}
	}
	if len(conds) == 0 {
		return "TRUE", args, nil
	}
	return strings.Join(conds, " AND "), args, nil
}
