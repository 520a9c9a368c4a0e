package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/license"
)

// Issue 17, finding 7: keygen --force over an existing 0644 private key leaves it 0600; a group/world-readable key
// is refused when loaded, with the file and the fix in the error.
func TestKeygenForceTightensAndLoadRefusesLooseKey(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, privateKeyFile)
	require.NoError(t, os.WriteFile(priv, []byte("old key"), 0o644))
	require.NoError(t, os.Chmod(priv, 0o644))
	_, err := run(t, "", "keygen", "--out", dir, "--force")
	require.NoError(t, err)
	info, err := os.Stat(priv)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "--force over a 0644 file leaves the private key 0600")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 3, "private key, public key, JWKS: no temporary files left")

	issue := []string{"license", "issue", "--key", priv, "--org", "acme", "--tenant", "acme-prod", "--client", "ci"}
	_, err = run(t, "", issue...)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(priv, 0o644))
	_, err = run(t, "", issue...)
	require.ErrorContains(t, err, priv)
	require.ErrorContains(t, err, "chmod 600 "+priv)
}

// Issue 17, findings 4 and 7: license issue sets scope, read_tenant, global, iss and aud, with a 90-day default
// lifetime, and refuses combinations that mean nothing.
func TestLicenseIssueScopesAndIssuer(t *testing.T) {
	dir := t.TempDir()
	_, err := run(t, "", "keygen", "--out", dir)
	require.NoError(t, err)
	keys, err := license.LoadKeySet([]string{filepath.Join(dir, publicKeyFile)}, "")
	require.NoError(t, err)
	issue := func(args ...string) (*license.Claims, error) {
		out, err := run(t, "", append([]string{"license", "issue", "--key", filepath.Join(dir, privateKeyFile),
			"--org", "acme", "--tenant", "acme-prod", "--client", "c"}, args...)...)
		if err != nil {
			return nil, err
		}
		return license.NewVerifier(keys, 0).WithIssuerAudience(license.Issuer, license.Audience, true).Verify(strings.TrimSpace(out))
	}
	c, err := issue()
	require.NoError(t, err)
	require.Equal(t, license.ScopeIngest, c.Scope)
	require.Equal(t, "govcol", c.Issuer)
	require.Equal(t, jwt.ClaimStrings{"govcol"}, c.Audience)
	require.WithinDuration(t, time.Now().Add(90*24*time.Hour), c.ExpiresAt.Time, time.Minute, "default lifetime 90 days")

	c, err = issue("--scope", "read", "--email", "Dev@Example.com")
	require.NoError(t, err)
	require.Equal(t, license.ScopeRead, c.Scope)
	require.Equal(t, "dev@example.com", c.Email)
	require.False(t, c.ReadTenant)
	c, err = issue("--scope", "read", "--read-tenant")
	require.NoError(t, err)
	require.True(t, c.ReadTenant)
	c, err = issue("--scope", "admin", "--global")
	require.NoError(t, err)
	require.Equal(t, license.ScopeAdmin, c.Scope)
	require.True(t, c.Global)

	for _, bad := range [][]string{
		{"--scope", "root"}, {"--scope", "read"}, {"--read-tenant"}, {"--global"}, {"--scope", "read", "--read-tenant", "--global"},
		{"--scope", "admin", "--read-tenant"}, {"--issuer", ""},
	} {
		_, err := issue(bad...)
		require.Error(t, err, bad)
	}
}

// Issue 17, finding 4: dev init mints dev-admin.license (scope admin of the development organisation, 0600) next
// to the ingest dev.license, and reuses both.
func TestDevInitMintsAdminLicense(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".govcol")
	_, err := run(t, "", "dev", "init", "--dir", dir)
	require.NoError(t, err)
	keys, err := license.LoadKeySet([]string{filepath.Join(dir, publicKeyFile)}, "")
	require.NoError(t, err)
	read := func(name string) (string, *license.Claims) {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		c, err := license.NewVerifier(keys, 0).Verify(strings.TrimSpace(string(raw)))
		require.NoError(t, err)
		return string(raw), c
	}
	adminRaw, admin := read(devAdminLicenseFile)
	require.Equal(t, license.ScopeAdmin, admin.Scope)
	require.Equal(t, "dev-org", admin.OrgID)
	require.False(t, admin.Global, "admin of the development organisation only")
	_, ingest := read(devLicenseFile)
	require.Equal(t, license.ScopeIngest, ingest.EffectiveScope(), "the license on every laptop reads nothing")

	_, err = run(t, "", "dev", "init", "--dir", dir)
	require.NoError(t, err)
	again, _ := read(devAdminLicenseFile)
	require.Equal(t, adminRaw, again, "a second run reuses the admin license")
}
