package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/license"
)

// Key file names inside a key directory.
const (
	privateKeyFile = "license-signing.key"
	publicKeyFile  = "license-signing.pub.pem"
	jwksFile       = "jwks.json"
)

func newKeygenCommand() *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate an Ed25519 license-signing key pair (private PEM, public PEM and JWKS)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			kid, err := writeKeyPair(dir, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key id (kid): %s\nprivate key:  %s\npublic key:   %s\nJWKS:         %s\n", kid,
				filepath.Join(dir, privateKeyFile), filepath.Join(dir, publicKeyFile), filepath.Join(dir, jwksFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "out", ".", "directory to write the key files into")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	return cmd
}

// writeKeyPair writes a new key pair into dir. The private key is written atomically and 0600 (also over an
// existing, looser file) and never overwritten unless force is set, since losing it invalidates every license
// signed with it.
func writeKeyPair(dir string, force bool) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	privPath := filepath.Join(dir, privateKeyFile)
	if _, err := os.Stat(privPath); err == nil && !force {
		return "", fmt.Errorf("%s exists; use --force to replace it", privPath)
	}
	pub, err := license.WriteKeyPair(privPath, filepath.Join(dir, publicKeyFile))
	if err != nil {
		return "", err
	}
	jwks, err := json.MarshalIndent(license.JWKS{Keys: []license.JWK{license.PublicJWK(pub)}}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := license.WriteFileAtomic(filepath.Join(dir, jwksFile), append(jwks, '\n'), 0o644); err != nil {
		return "", err
	}
	return license.KeyID(pub), nil
}
