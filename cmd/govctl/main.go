// Command govctl is the govcol operator CLI: signing keys, licenses and the local development setup.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signalContext()
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "govctl:", err)
		os.Exit(1)
	}
}

// signalContext ends at the first SIGINT (Ctrl-C) or SIGTERM: a command then stops and writes what it holds (e.g.
// `load --acked-file`) before returning. A second signal terminates the process as usual.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "govctl",
		Short:         "Operator CLI for govcol: keys, licenses, trail verification and local development",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newKeygenCommand(), newLicenseCommand(), newDevCommand(), newVerifyCommand(), newLoadCommand(), newDBCommand(),
		newDecisionsCommand(), newOtelHeadersCommand())
	return root
}
