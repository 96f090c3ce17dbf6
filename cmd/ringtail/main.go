// Command ringtail is the Ringtail daemon (`ringtail serve`) and its operator
// command line (topic, produce, consume, config). It only parses arguments
// and dispatches.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ringtail/ringtail/cli"
	"github.com/ringtail/ringtail/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, daemon.Serve)
	stop()
	os.Exit(code)
}
