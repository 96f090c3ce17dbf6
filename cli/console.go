package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/console"
	"github.com/ringtail/ringtail/sasl"
	"github.com/ringtail/ringtail/services/httpauth"
)

// consoleCloseTimeout bounds how long stopping waits for pages in flight.
const consoleCloseTimeout = 5 * time.Second

// consoleCommand serves the web console against --bootstrap, the same
// console a node serves with ringtail.console_enable.
func (a *app) consoleCommand() *cobra.Command {
	var (
		listen     string
		readOnly   bool
		registry   string
		connectURL string
		metricURLs []string
		auth       string
		metaAge    time.Duration
	)
	// 0 on the command line is no sharing; console.Config's 0 is its default.
	noZero := func(d time.Duration) time.Duration {
		if d <= 0 {
			return -1
		}
		return d
	}
	cmd := &cobra.Command{
		Use:   "console [--listen host:port] [--read-only] [--schema-registry-url URL] [--connect-url URL] [--metrics-url URL]... [--auth http_basic --sasl-mechanism M]",
		Short: "Serve the web console for the cluster at --bootstrap",
		Long: "Serve the web console (overview, topics, messages, consumer groups) for the\n" +
			"cluster at --bootstrap until SIGTERM or SIGINT. It is a Kafka client like the other\n" +
			"commands, so it works against any Kafka cluster; --tls* and --sasl-* apply.\n" +
			"--schema-registry-url and --connect-url add the schemas and connectors pages;\n" +
			"--metrics-url (each broker's admin /metrics, repeatable or comma-separated) adds\n" +
			"the overview's throughput, latency and disk charts.\n" +

			"With --auth http_basic the browser asks for a user name and password, and every\n" +
			"page acts as that user, logged in to --bootstrap with --sasl-mechanism, so the\n" +
			"cluster's ACLs apply (--sasl-user is then not needed).",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var seeds []string
			for _, s := range strings.Split(a.bootstrap, ",") {
				if s = strings.TrimSpace(s); s != "" {
					seeds = append(seeds, s)
				}
			}
			if len(seeds) == 0 {
				return errors.New("--bootstrap is empty: give host:port of a broker")
			}
			log := slog.New(slog.NewTextHandler(a.stderr, nil))
			sec, signIn, err := a.consoleSecurity(auth, seeds, log)
			if err != nil {
				return err
			}
			srv, err := console.Start(console.Config{Listen: listen, Brokers: seeds, ClientOpts: sec, ReadOnly: readOnly, Logger: log,
				RegistryURL: registry, ConnectURL: connectURL, MetricsURLs: metricURLs, Auth: signIn, MetadataMaxAge: noZero(metaAge)})
			if err != nil {
				return fmt.Errorf("console on %s: %w", listen, err)
			}
			fmt.Fprintf(a.stdout, "console for %s at http://%s\n", a.bootstrap, srv.Addr())
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), consoleCloseTimeout)
			defer cancel()
			return srv.Close(ctx)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9021", "host:port to serve the console on")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "show the cluster without offering to change it")
	cmd.Flags().StringVar(&registry, "schema-registry-url", "", "Schema Registry base URL (http://host:8081): the schemas page, and Avro and Protobuf keys and values decoded in the message browser")
	cmd.Flags().StringVar(&connectURL, "connect-url", "", "Kafka Connect REST base URL for the connectors page (http://host:8083)")
	cmd.Flags().StringSliceVar(&metricURLs, "metrics-url", nil, "a broker's Prometheus /metrics URL for the overview's charts (repeatable, or comma-separated)")
	cmd.Flags().DurationVar(&metaAge, "metadata-max-age", 5*time.Second, "how long the pages share one read of the whole cluster's metadata (the console's own changes show at once); 0: every page reads it afresh")
	cmd.Flags().StringVar(&auth, "auth", "none", "none, or http_basic: users sign in as users of the cluster (--sasl-mechanism) and act as themselves")
	return cmd
}

// consoleSecurity is the console's own client options and, with --auth
// http_basic, its sign-in: users' credentials checked by logging in to
// seeds with --sasl-mechanism, and their pages served by clients so
// logged in (with the --tls* options).
func (a *app) consoleSecurity(auth string, seeds []string, log *slog.Logger) ([]kgo.Opt, *console.Auth, error) {
	switch auth {
	case "none":
		sec, err := a.sec.opts()
		return sec, nil, err
	case "http_basic":
	case "mtls":
		// Deciding for a certificate's owner needs the broker's
		// super.users and allow.everyone.if.no.acl.found, which no
		// Kafka request tells a client.
		return nil, nil, errors.New("--auth mtls: the standalone console cannot check a certificate's rights (it cannot read the brokers' super.users); serve the console from a node (ringtail.console_enable = true with ringtail.services_auth = mtls), or use --auth http_basic")
	default:
		return nil, nil, fmt.Errorf("--auth %q: valid are none, http_basic", auth)
	}
	mech := strings.ToUpper(strings.TrimSpace(a.sec.saslMechanism))
	if !sasl.IsSupported(mech) {
		return nil, nil, fmt.Errorf("--auth http_basic needs --sasl-mechanism, the mechanism users sign in with: %s", strings.Join(sasl.Supported, ", "))
	}
	// The console's own login, if --sasl-user is given; else it has
	// none (every page acts as its signed-in user).
	own := a.sec
	if own.saslUser == "" {
		own.saslMechanism = ""
	}
	sec, err := own.opts()
	if err != nil {
		return nil, nil, err
	}
	tlsOnly := a.sec
	tlsOnly.saslMechanism, tlsOnly.saslUser = "", ""
	tlsOpts, err := tlsOnly.opts()
	if err != nil {
		return nil, nil, err
	}
	au, err := httpauth.New(httpauth.Config{Mode: httpauth.ModeHTTPBasic, Service: "console", Logger: log,
		ErrorContentType: "application/json", SASLBrokers: seeds, SASLMechanism: mech, ClientOpts: tlsOpts})
	if err != nil {
		return nil, nil, err
	}
	return sec, &console.Auth{Authenticator: au, Brokers: seeds, ClientOpts: func(user, password string) []kgo.Opt {
		return append([]kgo.Opt{httpauth.SASLOpt(mech, user, password)}, tlsOpts...)
	}}, nil
}
