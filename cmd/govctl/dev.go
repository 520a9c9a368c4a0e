package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/license"
)

// Development licenses: dev.license (scope ingest, in every laptop's OTEL_EXPORTER_OTLP_HEADERS) and
// dev-admin.license (scope admin of the development organisation, pasted into the Log Explorer).
const (
	devLicenseFile      = "dev.license"
	devAdminLicenseFile = "dev-admin.license"
	devOrg              = "dev-org"
	devTenant           = "dev-tenant"
)

type devOptions struct {
	dir, email, endpoint, protocol string
}

func newDevCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "dev", Short: "Local development helpers"}
	var o devOptions
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Mint a signing key and development licenses on first run, then print the Claude Code exports",
		Long: "Creates <dir>/license-signing.key, the public key, <dir>/dev.license (scope ingest: Claude Code's " +
			"telemetry) and <dir>/dev-admin.license (scope admin of the development organisation: paste it into the " +
			"Log Explorer) when they are missing (existing keys and licenses are reused), then prints one " +
			"`export NAME=value` line per variable that " +
			"points Claude Code at the local collector, so that `eval \"$(govctl dev init)\"` configures a shell.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devInit(cmd.OutOrStdout(), cmd.ErrOrStderr(), o, time.Now())
		},
	}
	f := initCmd.Flags()
	f.StringVar(&o.dir, "dir", ".govcol", "directory for the development key and license")
	f.StringVar(&o.email, "email", "dev@example.com", "developer email sent as X-User-Email")
	f.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:4318", "OTLP endpoint Claude Code should use")
	f.StringVar(&o.protocol, "protocol", "http/json", "OTLP protocol Claude Code should use (http/json, http/protobuf or grpc)")
	cmd.AddCommand(initCmd, newDevPostgresCommand())
	return cmd
}

func devInit(stdout, stderr io.Writer, o devOptions, now time.Time) error {
	keyPath := filepath.Join(o.dir, privateKeyFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		kid, err := writeKeyPair(o.dir, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "govctl: minted development signing key %s (kid %s)\n", keyPath, kid)
	}
	if err := devAuditKey(stderr, o.dir); err != nil {
		return err
	}
	lic, err := devLicense(stderr, filepath.Join(o.dir, devLicenseFile), issueOptions{
		keyFile: keyPath, org: devOrg, tenant: devTenant, client: "dev-client", tier: "development",
		scope: string(license.ScopeIngest),
	}, now)
	if err != nil {
		return err
	}
	if _, err := devLicense(stderr, filepath.Join(o.dir, devAdminLicenseFile), issueOptions{
		keyFile: keyPath, org: devOrg, tenant: devTenant, client: "dev-admin", tier: "development",
		scope: string(license.ScopeAdmin),
	}, now); err != nil {
		return err
	}
	headers := "Authorization=Bearer " + lic + ",X-User-Email=" + o.email + ",X-Axonflow-Client=claude-code"
	for _, kv := range [][2]string{
		{"CLAUDE_CODE_ENABLE_TELEMETRY", "1"},
		{"OTEL_METRICS_EXPORTER", "otlp"},
		{"OTEL_LOGS_EXPORTER", "otlp"},
		{"OTEL_TRACES_EXPORTER", "otlp"},
		{"CLAUDE_CODE_ENHANCED_TELEMETRY_BETA", "1"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", o.protocol},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", o.endpoint},
		{"OTEL_EXPORTER_OTLP_HEADERS", headers},
	} {
		fmt.Fprintf(stdout, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return nil
}

// devLicense returns the license in path, minting it (0600, atomically) when the file is missing or empty.
func devLicense(stderr io.Writer, path string, o issueOptions, now time.Time) (string, error) {
	raw, err := os.ReadFile(path)
	if lic := strings.TrimSpace(string(raw)); err == nil && lic != "" {
		return lic, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	o.ttl, o.issuer, o.audience = license.DefaultTTL, license.Issuer, license.Audience
	lic, _, err := issueLicense(o, now)
	if err != nil {
		return "", err
	}
	if err := license.WriteFileAtomic(path, []byte(lic+"\n"), 0o600); err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "govctl: minted development license %s (scope %s; org %s, tenant %s, client %s)\n",
		path, o.scope, o.org, o.tenant, o.client)
	return lic, nil
}

// Checkpoint signing key of the quick start (config/local.yaml): integrity.signing_key_file, and the public key
// `govctl verify --key` takes.
const (
	auditKeyFile    = "audit-signing.key"
	auditPubKeyFile = "audit-signing.pub.pem"
)

// devAuditKey mints the audit checkpoint signing key on first run (a key of its own: licenses and the audit trail
// are signed by different keys, so either can rotate alone).
func devAuditKey(stderr io.Writer, dir string) error {
	path := filepath.Join(dir, auditKeyFile)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	pub, err := license.WriteKeyPair(path, filepath.Join(dir, auditPubKeyFile))
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "govctl: minted audit checkpoint signing key %s (kid %s)\n", path, license.KeyID(pub))
	return nil
}

// shellQuote single-quotes s for POSIX shells unless it is made only of safe characters.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
