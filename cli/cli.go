// Package cli is the ringtail command line: `ringtail serve` and the operator
// commands (config, topic, produce, consume). The operator commands are
// ordinary Kafka clients on franz-go, so they work against any Kafka broker.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	defaultBootstrap = "127.0.0.1:9092"
	bootstrapEnv     = "RINGTAIL_BOOTSTRAP"

	// requestTimeout bounds how long an admin request (and its retries)
	// may take, so a command against a broker that is down fails in seconds
	// rather than kgo's default 30s.
	requestTimeout = 15 * time.Second
	dialTimeout    = 5 * time.Second
	// deliveryTimeout bounds how long produce waits for one record.
	deliveryTimeout = 30 * time.Second
)

// errReported marks a failure already printed to stderr (one line per
// failed topic, say); Execute then only sets the exit status.
var errReported = errors.New("reported")

// app is one run of the command line: its streams and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	serve          func(ctx context.Context, configPath string) error
	bootstrap      string
	sec            clientSecurity // --tls*, --sasl-* (security.go)
}

// Execute runs the ringtail command line. args are the arguments after the
// program name (os.Args[1:]); a leading os.Args[0] is skipped too. serve is
// called for `ringtail serve [--config FILE]` with the config path ("" if
// none) and must block until shutdown. The result is the exit status: 0 on
// success, 1 after printing one line "ringtail: <what failed>: <why>" to
// stderr.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, serve func(ctx context.Context, configPath string) error) int {
	if len(args) > 0 && len(os.Args) > 0 && args[0] == os.Args[0] {
		args = args[1:]
	}
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, serve: serve}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintln(stderr, "ringtail: "+oneLine(err.Error()))
	}
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ringtail",
		Short:         "Ringtail, a Kafka-compatible event streaming broker",
		SilenceErrors: true,
		SilenceUsage:  true,
		// No subcommand: show help; an unknown one is an error.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownSubcommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(cmd, err.Error())
	})
	bootstrap := defaultBootstrap
	if env := os.Getenv(bootstrapEnv); env != "" {
		bootstrap = env
	}
	root.PersistentFlags().StringVarP(&a.bootstrap, "bootstrap", "b", bootstrap,
		"Kafka bootstrap servers, host:port[,host:port...] (default from $"+bootstrapEnv+" if set)")

	a.sec.addFlags(root.PersistentFlags())
	root.AddCommand(a.userCommand())
	root.AddCommand(a.serveCommand(), a.configCommand(), a.topicCommand(), a.produceCommand(), a.consumeCommand(), a.consumerGroupCommand(), a.txnCommand(), a.clusterCommand(), a.benchCommand(), a.iotuneCommand())
	root.AddCommand(a.quotaCommand()) // quota.go
	root.AddCommand(a.aclCommand())
	root.AddCommand(a.connectCommand()) // connect.go
	root.AddCommand(a.consoleCommand()) // console.go
	return root
}

// groupCommand is a command that only holds subcommands.
func groupCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownSubcommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(subs...)
	return cmd
}

func unknownSubcommand(cmd *cobra.Command, name string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	msg := fmt.Sprintf("unknown command %q", name)
	cmd.SuggestionsMinimumDistance = 2
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usageError(cmd, msg+"; commands: "+strings.Join(names, ", "))
}

// usageError is a bad command line: what was wrong, and where to look.
func usageError(cmd *cobra.Command, msg string) error {
	path := cmd.CommandPath()
	if sub, ok := strings.CutPrefix(path, cmd.Root().Name()+" "); ok {
		msg = sub + ": " + msg
	}
	return fmt.Errorf("%s (see '%s --help')", msg, path)
}

// exactArgs wants n positional arguments, named in the message.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError(cmd, fmt.Sprintf("wants %s, got %d argument(s)", names, len(args)))
		}
		return nil
	}
}

func minArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError(cmd, "wants "+names)
		}
		return nil
	}
}

// client opens a franz-go client on --bootstrap. It connects lazily, on the
// first request.
func (a *app) client(opts ...kgo.Opt) (*kgo.Client, error) {
	var seeds []string
	for _, s := range strings.Split(a.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("--bootstrap is empty: give host:port of a broker")
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("ringtail-cli"),
		kgo.RetryTimeout(requestTimeout),
		kgo.DialTimeout(dialTimeout),
	}
	sec, err := a.sec.opts()
	if err != nil {
		return nil, err
	}
	base = append(base, sec...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", a.bootstrap, err)
	}
	return cl, nil
}

// opError is "<what failed>: <why>", keeping the cause for errors.Is.
type opError struct {
	what string
	why  string
	err  error
}

func (e *opError) Error() string { return e.what + ": " + e.why }
func (e *opError) Unwrap() error { return e.err }

// failed reports that what failed because of err; brokerMsg is the
// response's error message, if the broker sent one.
func failed(what string, err error, brokerMsg string) error {
	return &opError{what: what, why: describeError(err, brokerMsg), err: err}
}

// describeError renders a Kafka error as "NAME: description", followed by
// the broker's own message where it adds something.
func describeError(err error, brokerMsg string) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		s := ke.Message + ": " + ke.Description
		if brokerMsg != "" && brokerMsg != ke.Description {
			s += " (" + brokerMsg + ")"
		}
		return s
	}
	s := err.Error()
	if brokerMsg != "" && !strings.Contains(s, brokerMsg) {
		s += " (" + brokerMsg + ")"
	}
	return s
}

// oneLine folds a multi-line message (cobra's suggestions, kadm's shard
// errors) onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// report prints one failure line; the command then returns errReported.
func (a *app) report(err error) {
	fmt.Fprintln(a.stderr, "ringtail: "+oneLine(err.Error()))
}
