//go:generate ../../bin/mdatagen metadata.yaml

// Package licenseauthextension implements a server authenticator for the OTLP receivers that accepts govcol
// licenses (Ed25519-signed JWTs) and exposes the tenant, organisation and client they name through client.Info.Auth.
package licenseauthextension // import "github.com/govcol/govcol/extension/licenseauthextension"
