package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/license"
)

func newLicenseCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "license", Short: "Issue and inspect licenses"}
	cmd.AddCommand(newLicenseIssueCommand(), newLicenseInspectCommand())
	return cmd
}

type issueOptions struct {
	keyFile, org, tenant, client, email, tier string
	scope, issuer, audience                   string
	readTenant, global                        bool
	ttl                                       time.Duration
}

func newLicenseIssueCommand() *cobra.Command {
	var o issueOptions
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Sign a license for an organisation, tenant and client (optionally a developer email)",
		Long: "Signs a license. --scope decides what it may do: ingest (default) sends telemetry and reads nothing; " +
			"read reads the audit API — with --email only that developer's records, with --read-tenant the whole " +
			"tenant; admin reads every tenant of --org, or every organisation with --global.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			lic, _, err := issueLicense(o, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), lic)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keyFile, "key", privateKeyFile, "private signing key (PEM) written by govctl keygen")
	f.StringVar(&o.org, "org", "", "organisation id (required)")
	f.StringVar(&o.tenant, "tenant", "", "tenant id (required)")
	f.StringVar(&o.client, "client", "", "client id, the license's sub (required)")
	f.StringVar(&o.email, "email", "", "developer email, for a per-developer license")
	f.StringVar(&o.tier, "tier", "standard", "license tier (for example standard, enterprise, admin)")
	f.StringVar(&o.scope, "scope", string(license.ScopeIngest), "what the license may do: ingest, read or admin")
	f.BoolVar(&o.readTenant, "read-tenant", false, "scope read: read the whole tenant, not only the --email developer's records")
	f.BoolVar(&o.global, "global", false, "scope admin: read every organisation, not only --org")
	f.StringVar(&o.issuer, "issuer", license.Issuer, "iss claim (licenseauth issuer)")
	f.StringVar(&o.audience, "audience", license.Audience, "aud claim (licenseauth audience)")
	f.DurationVar(&o.ttl, "ttl", license.DefaultTTL, "validity from now (rotate licenses before they expire)")
	for _, name := range []string{"org", "tenant", "client"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func issueLicense(o issueOptions, now time.Time) (string, license.Claims, error) {
	if o.ttl <= 0 {
		return "", license.Claims{}, errors.New("--ttl must be positive")
	}
	scope := license.Scope(o.scope)
	email := strings.ToLower(strings.TrimSpace(o.email))
	switch {
	case !scope.Valid():
		return "", license.Claims{}, errors.New("--scope must be ingest, read or admin")
	case o.readTenant && scope != license.ScopeRead:
		return "", license.Claims{}, errors.New("--read-tenant applies to --scope read only")
	case o.global && scope != license.ScopeAdmin:
		return "", license.Claims{}, errors.New("--global applies to --scope admin only")
	case scope == license.ScopeRead && !o.readTenant && email == "":
		return "", license.Claims{}, errors.New("--scope read needs --email (that developer's records) or --read-tenant (the whole tenant)")
	case o.issuer == "" || o.audience == "":
		return "", license.Claims{}, errors.New("--issuer and --audience must not be empty")
	}
	priv, err := license.LoadPrivateKeyFile(o.keyFile)
	if err != nil {
		return "", license.Claims{}, err
	}
	claims := license.NewClaims(o.org, o.tenant, o.client, o.tier, email, now, o.ttl)
	claims.Scope, claims.ReadTenant, claims.Global = scope, o.readTenant, o.global
	claims.Issuer, claims.Audience = o.issuer, jwt.ClaimStrings{o.audience}
	lic, err := license.Issue(priv, claims)
	return lic, claims, err
}

func newLicenseInspectCommand() *cobra.Command {
	var pubFiles []string
	var jwks string
	cmd := &cobra.Command{
		Use:   "inspect [LICENSE|-]",
		Short: "Decode a license; with --pubkey or --jwks also verify it",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var token string
			if len(args) == 0 || args[0] == "-" {
				raw, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				token = strings.TrimSpace(string(raw))
			} else {
				token = strings.TrimSpace(args[0])
			}
			h, p, err := license.Inspect(token)
			if err != nil {
				return err
			}
			out := map[string]any{"header": h, "claims": p}
			for _, k := range []string{"exp", "nbf", "iat"} {
				if v, ok := p[k].(float64); ok {
					out[k+"_time"] = time.Unix(int64(v), 0).UTC().Format(time.RFC3339)
				}
			}
			if len(pubFiles) > 0 || jwks != "" {
				keys, err := license.LoadKeySet(pubFiles, jwks)
				if err != nil {
					return err
				}
				if _, err := license.NewVerifier(keys, 0).Verify(token); err != nil {
					out["verified"] = false
					out["reason"] = string(license.ReasonOf(err))
				} else {
					out["verified"] = true
				}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
			if v, ok := out["verified"].(bool); ok && !v {
				return fmt.Errorf("license does not verify: %s", out["reason"])
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&pubFiles, "pubkey", nil, "public key PEM file(s) to verify against")
	cmd.Flags().StringVar(&jwks, "jwks", "", "JWKS file to verify against")
	return cmd
}
