// Command kraite is the single binary of Kraite stream: the embedded broker,
// the exchange simulator, producers, processors, sinks and the operator
// commands. Run `kraite help` for the list.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kraite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	return newApp(os.Stdin, os.Stdout, os.Stderr).main(ctx, os.Args[1:])
}
