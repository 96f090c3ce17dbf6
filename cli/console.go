package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringtail/ringtail/console"
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
	)
	cmd := &cobra.Command{
		Use:   "console [--listen host:port] [--read-only] [--schema-registry-url URL] [--connect-url URL] [--metrics-url URL]...",
		Short: "Serve the web console for the cluster at --bootstrap",
		Long: "Serve the web console (overview, topics, messages, consumer groups) for the\n" +
			"cluster at --bootstrap until SIGTERM or SIGINT. It is a Kafka client like the other\n" +
			"commands, so it works against any Kafka cluster; --tls* and --sasl-* apply.\n" +
			"--schema-registry-url and --connect-url add the schemas and connectors pages;\n" +
			"--metrics-url (each broker's admin /metrics, repeatable or comma-separated) adds\n" +
			"the overview's throughput, latency and disk charts.",
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
			sec, err := a.sec.opts()
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(a.stderr, nil))
			srv, err := console.Start(console.Config{Listen: listen, Brokers: seeds, ClientOpts: sec, ReadOnly: readOnly, Logger: log,
				RegistryURL: registry, ConnectURL: connectURL, MetricsURLs: metricURLs})
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
	return cmd
}
