// Command kraite is the single binary of Kraite stream: the embedded broker,
// the exchange simulator, producers, processors, sinks and the operator
// commands. Run `kraite help` for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kraite/stream/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	// Usage errors exit 2 with a hint to the help, other failures 1.
	os.Exit(cli.ExitCode(os.Stderr, err))
}

func run(ctx context.Context) error {
	return newApp(os.Stdin, os.Stdout, os.Stderr).main(ctx, os.Args[1:])
}
