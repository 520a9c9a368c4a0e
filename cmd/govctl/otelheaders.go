package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/license"
)

// Limits of the otel-headers helper.
const (
	// maxLicenseFileBytes bounds the license file read (a license is well under 2 KiB).
	maxLicenseFileBytes = 16 << 10
	// maxIdentityBytes is the RFC 5321 limit on an address; a longer identity is not sent.
	maxIdentityBytes = 254
	// identityCommandTimeout bounds `git config`: Claude Code waits for the helper.
	identityCommandTimeout = 5 * time.Second
	// expiryWarning: a license expiring within this window is still used, with a warning on stderr.
	expiryWarning = 14 * 24 * time.Hour
)

type otelHeadersOptions struct {
	licenseFile, identity, client string
}

// defaultLicenseFile is $GOVCOL_LICENSE_FILE, else ~/.config/govcol/license.
func defaultLicenseFile() string {
	if p := os.Getenv("GOVCOL_LICENSE_FILE"); p != "" {
		return p
	}
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "govcol", "license")
	}
	return ""
}

func newOtelHeadersCommand() *cobra.Command {
	var o otelHeadersOptions
	cmd := &cobra.Command{
		Use:   "otel-headers",
		Short: "Print the OTLP headers for Claude Code's otelHeadersHelper setting (license and developer identity)",
		Long: "Prints a JSON object of headers for Claude Code's otelHeadersHelper: Authorization (Bearer, the " +
			"developer's license from --license-file), X-User-Email (from --identity) and X-Axonflow-Client. Claude " +
			"Code runs it at start and again as it refreshes headers; it applies to the http/json and http/protobuf " +
			"protocols only. --identity is git (git config user.email, the default), env:NAME, file:PATH or license " +
			"(send no X-User-Email: the license's email, if any, is the identity). A missing, malformed or expired " +
			"license is an error (exit 1, nothing on stdout); an identity that cannot be found or is not a plain " +
			"address is left out, with a warning on stderr.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, warnings, err := otelHeaders(o, time.Now())
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "govctl otel-headers:", w)
			}
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(h)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.licenseFile, "license-file", defaultLicenseFile(),
		"the developer's license file ($GOVCOL_LICENSE_FILE, else ~/.config/govcol/license)")
	f.StringVar(&o.identity, "identity", "git", "where the developer's email comes from: git, env:NAME, file:PATH or license")
	f.StringVar(&o.client, "client", "claude-code", "X-Axonflow-Client value (the origin govcol records); empty to omit")
	return cmd
}

// otelHeaders builds the headers; warnings are for stderr (they never contain the license).
func otelHeaders(o otelHeadersOptions, now time.Time) (map[string]string, []string, error) {
	var warnings []string
	if o.licenseFile == "" {
		return nil, nil, errors.New("no license file: set --license-file or GOVCOL_LICENSE_FILE")
	}
	token, err := readLicenseFile(o.licenseFile)
	if err != nil {
		return nil, nil, err
	}
	_, claims, err := license.Inspect(token)
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not a license: %w", o.licenseFile, err)
	}
	if exp, ok := claims["exp"].(float64); ok {
		at := time.Unix(int64(exp), 0).UTC()
		switch {
		case !now.Before(at):
			return nil, nil, fmt.Errorf("the license in %s expired at %s; ask for a new one", o.licenseFile, at.Format(time.RFC3339))
		case at.Sub(now) < expiryWarning:
			warnings = append(warnings, fmt.Sprintf("the license in %s expires at %s", o.licenseFile, at.Format(time.RFC3339)))
		}
	}
	h := map[string]string{"Authorization": "Bearer " + token}
	if o.client != "" {
		if !plainHeaderValue(o.client, maxIdentityBytes) {
			return nil, nil, errors.New("--client must be printable ASCII without spaces or commas")
		}
		h["X-Axonflow-Client"] = o.client
	}
	email, err := resolveIdentity(o.identity)
	switch {
	case err != nil:
		warnings = append(warnings, "no developer identity sent: "+err.Error())
	case email == "":
	case !plainHeaderValue(email, maxIdentityBytes) || strings.Count(email, "@") != 1:
		warnings = append(warnings, "no developer identity sent: the identity is not a plain email address")
	default:
		h["X-User-Email"] = email
	}
	return h, warnings, nil
}

// readLicenseFile reads one license token: surrounding whitespace is ignored, anything else that is not part of a
// JWT is refused.
func readLicenseFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading the license: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxLicenseFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading the license: %w", err)
	}
	if len(raw) > maxLicenseFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes: not a license", path, maxLicenseFileBytes)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	for _, r := range token {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "", fmt.Errorf("%s holds more than one base64url license token", path)
		}
	}
	return token, nil
}

// resolveIdentity returns the developer's email from the identity source ("" for license).
func resolveIdentity(source string) (string, error) {
	kind, arg, _ := strings.Cut(source, ":")
	var v string
	switch kind {
	case "license":
		return "", nil
	case "git":
		ctx, cancel := context.WithTimeout(context.Background(), identityCommandTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "git", "config", "--get", "user.email").Output()
		if err != nil {
			return "", errors.New("git config user.email is not set")
		}
		v = string(out)
	case "env":
		if arg == "" {
			return "", errors.New("--identity env:NAME needs a variable name")
		}
		v = os.Getenv(arg)
		if v == "" {
			return "", fmt.Errorf("$%s is not set", arg)
		}
	case "file":
		if arg == "" {
			return "", errors.New("--identity file:PATH needs a path")
		}
		raw, err := os.ReadFile(arg)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", arg, err)
		}
		v, _, _ = strings.Cut(strings.TrimSpace(string(raw)), "\n")
	default:
		return "", fmt.Errorf("unknown identity source %q (git, env:NAME, file:PATH or license)", source)
	}
	return strings.TrimSpace(v), nil
}

// plainHeaderValue: printable ASCII with no space, comma or quote (a value Claude Code and HTTP carry unchanged),
// at most max bytes.
func plainHeaderValue(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f || r == ',' || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}
