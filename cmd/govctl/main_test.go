package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/license"
)

func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestKeygenIssueInspect(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "", "keygen", "--out", dir)
	require.NoError(t, err)
	require.Contains(t, out, "key id (kid):")
	info, err := os.Stat(filepath.Join(dir, privateKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the private key must not be world-readable")

	_, err = run(t, "", "keygen", "--out", dir)
	require.ErrorContains(t, err, "--force", "an existing private key is never silently replaced")

	lic, err := run(t, "", "license", "issue", "--key", filepath.Join(dir, privateKeyFile),
		"--org", "acme", "--tenant", "acme-prod", "--client", "ci-bot", "--email", " Dev@Example.com ", "--tier", "enterprise", "--ttl", "2h")
	require.NoError(t, err)
	lic = strings.TrimSpace(lic)

	keys, err := license.LoadKeySet([]string{filepath.Join(dir, publicKeyFile)}, filepath.Join(dir, jwksFile))
	require.NoError(t, err)
	claims, err := license.NewVerifier(keys, 0).Verify(lic)
	require.NoError(t, err)
	require.Equal(t, "acme", claims.OrgID)
	require.Equal(t, "acme-prod", claims.TenantID)
	require.Equal(t, "ci-bot", claims.ClientID())
	require.Equal(t, "dev@example.com", claims.Email)
	require.Equal(t, "enterprise", claims.Tier)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), claims.ExpiresAt.Time, time.Minute)

	out, err = run(t, lic, "license", "inspect", "--pubkey", filepath.Join(dir, publicKeyFile), "-")
	require.NoError(t, err)
	require.Contains(t, out, `"verified": true`)
	require.Contains(t, out, `"tenant_id": "acme-prod"`)

	other := t.TempDir()
	_, err = run(t, "", "keygen", "--out", other)
	require.NoError(t, err)
	out, err = run(t, "", "license", "inspect", "--jwks", filepath.Join(other, jwksFile), lic)
	require.ErrorContains(t, err, "unknown_kid")
	require.Contains(t, out, `"verified": false`)

	_, err = run(t, "", "license", "issue", "--key", filepath.Join(dir, privateKeyFile), "--org", "a", "--tenant", "b")
	require.ErrorContains(t, err, "client")
}

// TestDevInitExportsEvalInShell checks that the printed lines configure a real shell, and that a second run reuses
// the key and license.
func TestDevInitExportsEvalInShell(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".govcol")
	first, err := run(t, "", "dev", "init", "--dir", dir, "--email", "me@example.com")
	require.NoError(t, err)
	second, err := run(t, "", "dev", "init", "--dir", dir, "--email", "me@example.com")
	require.NoError(t, err)
	require.Equal(t, first, second, "a second run reuses the minted license")

	lines := strings.Split(strings.TrimSpace(first), "\n")
	require.Len(t, lines, 8)
	for _, l := range lines {
		require.True(t, strings.HasPrefix(l, "export "), l)
	}
	script := first + `printf '%s\n' "$CLAUDE_CODE_ENABLE_TELEMETRY" "$OTEL_LOGS_EXPORTER" "$OTEL_EXPORTER_OTLP_PROTOCOL" "$OTEL_EXPORTER_OTLP_ENDPOINT" "$OTEL_EXPORTER_OTLP_HEADERS"`
	out, err := exec.Command("bash", "-c", script).Output()
	require.NoError(t, err)
	vals := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Equal(t, []string{"1", "otlp", "http/json", "http://127.0.0.1:4318"}, vals[:4])
	lic, err := os.ReadFile(filepath.Join(dir, devLicenseFile))
	require.NoError(t, err)
	require.Equal(t, "Authorization=Bearer "+strings.TrimSpace(string(lic))+",X-User-Email=me@example.com,X-Axonflow-Client=claude-code", vals[4])
}
