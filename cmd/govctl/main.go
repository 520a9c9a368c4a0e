// Command govctl is the govcol operator CLI: signing keys, licenses and the local development setup.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "govctl:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "govctl",
		Short:         "Operator CLI for govcol: keys, licenses, trail verification and local development",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newKeygenCommand(), newLicenseCommand(), newDevCommand(), newVerifyCommand(), newLoadCommand(), newDBCommand(), newDecisionsCommand())
	return root
}
