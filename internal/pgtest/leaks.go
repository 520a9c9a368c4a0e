package pgtest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// RunVerifyingLeaks is Run followed by goleak's check for goroutines the package's tests left running (the check of
// goleak.VerifyTestMain, which mdatagen's TestMain cannot run for a package with a cluster: it exits before the
// cluster could be removed). Use it as the mdatagen goleak setup: os.Exit(pgtest.RunVerifyingLeaks(m)).
func RunVerifyingLeaks(m *testing.M, opts ...goleak.Option) int {
	code := Run(m)
	if code != 0 {
		return code
	}
	if err := goleak.Find(opts...); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
		return 1
	}
	return 0
}
