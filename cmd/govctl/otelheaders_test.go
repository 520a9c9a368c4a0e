package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/license"
)

// issueTestLicense signs a license valid for ttl from now and writes it, with a trailing newline, to dir/license.
func issueTestLicense(t *testing.T, dir, email string, ttl time.Duration) (path, token string) {
	t.Helper()
	_, priv, err := license.GenerateKey()
	require.NoError(t, err)
	token, err = license.Issue(priv, license.NewClaims("org-h", "tenant-h", "client-h", "standard", email, time.Now(), ttl))
	require.NoError(t, err)
	path = filepath.Join(dir, "license")
	require.NoError(t, os.WriteFile(path, []byte(token+"\n"), 0o600))
	return path, token
}

func headersFrom(t *testing.T, out string) map[string]string {
	t.Helper()
	var h map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &h), out)
	return h
}

func TestOtelHeadersIdentitySources(t *testing.T) {
	dir := t.TempDir()
	lic, token := issueTestLicense(t, dir, "", time.Hour*24*90)
	idFile := filepath.Join(dir, "identity")
	require.NoError(t, os.WriteFile(idFile, []byte("  file.dev@example.com \nsecond line\n"), 0o600))
	t.Setenv("GOVCOL_TEST_EMAIL", "env.dev@example.com")

	// git: a HOME of its own with a global user.email.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	require.NoError(t, exec.Command("git", "config", "--global", "user.email", "git.dev@example.com").Run())
	t.Chdir(t.TempDir())

	for identity, want := range map[string]string{
		"git":                   "git.dev@example.com",
		"env:GOVCOL_TEST_EMAIL": "env.dev@example.com",
		"file:" + idFile:        "file.dev@example.com",
		"license":               "",
	} {
		t.Run(identity, func(t *testing.T) {
			out, err := run(t, "", "otel-headers", "--license-file", lic, "--identity", identity)
			require.NoError(t, err)
			h := headersFrom(t, out)
			require.Equal(t, "Bearer "+token, h["Authorization"])
			require.Equal(t, "claude-code", h["X-Axonflow-Client"])
			require.Equal(t, want, h["X-User-Email"])
			if want == "" {
				require.NotContains(t, h, "X-User-Email")
			}
		})
	}

	// GOVCOL_LICENSE_FILE is the default license file.
	t.Setenv("GOVCOL_LICENSE_FILE", lic)
	out, err := run(t, "", "otel-headers", "--identity", "license", "--client", "")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"Authorization": "Bearer " + token}, headersFrom(t, out))
}

func TestOtelHeadersLeavesOutABadIdentity(t *testing.T) {
	dir := t.TempDir()
	lic, _ := issueTestLicense(t, dir, "", time.Hour*24*90)
	for name, v := range map[string]string{
		"unset":       "",
		"not email":   "just-a-name",
		"two at":      "a@b@example.com",
		"header list": "a@example.com,X-Evil=1",
		"space":       "a b@example.com",
		"too long":    strings.Repeat("a", 250) + "@example.com",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("GOVCOL_TEST_EMAIL", v)
			out, err := run(t, "", "otel-headers", "--license-file", lic, "--identity", "env:GOVCOL_TEST_EMAIL")
			require.NoError(t, err, "the license still goes out")
			h := headersFrom(t, out)
			require.NotContains(t, h, "X-User-Email")
			require.Len(t, h, 2)
		})
	}
	_, err := run(t, "", "otel-headers", "--license-file", lic, "--identity", "ldap")
	require.NoError(t, err, "an unknown source is a warning, not a failure")
}

func TestOtelHeadersRefusesABadLicense(t *testing.T) {
	dir := t.TempDir()
	expired, _ := issueTestLicense(t, t.TempDir(), "", -time.Hour)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	for name, tc := range map[string]struct{ path, want string }{
		"missing":    {filepath.Join(dir, "nope"), "reading the license"},
		"empty":      {write("empty", "\n"), "is empty"},
		"two tokens": {write("two", "a.b.c d.e.f"), "more than one"},
		"not a jwt":  {write("garbage", "abc"), "not a license"},
		"too large":  {write("large", strings.Repeat("a", maxLicenseFileBytes+1)), "larger than"},
		"expired":    {expired, "expired at"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, "", "otel-headers", "--license-file", tc.path, "--identity", "license")
			require.ErrorContains(t, err, tc.want)
			require.Empty(t, out, "nothing on stdout: Claude Code must not send half a header set")
		})
	}
}

func TestOtelHeadersWarnsBeforeExpiry(t *testing.T) {
	lic, token := issueTestLicense(t, t.TempDir(), "", 24*time.Hour)
	h, warnings, err := otelHeaders(otelHeadersOptions{licenseFile: lic, identity: "license"}, time.Now())
	require.NoError(t, err)
	require.Equal(t, "Bearer "+token, h["Authorization"])
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "expires at")
	require.NotContains(t, warnings[0], token, "a warning never contains the license")
}
