//go:build tools

// Package tools pins the versions of the build tools (the OpenTelemetry Collector Builder and mdatagen) in a module
// of its own, so that their dependencies never leak into the distribution's go.mod. The Makefile builds them into
// ./bin from here.
package tools

import (
	_ "go.opentelemetry.io/collector/cmd/builder"
	_ "go.opentelemetry.io/collector/cmd/mdatagen"
)
