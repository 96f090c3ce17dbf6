package cli

// `ringtail connect standalone`: Kafka's connect-standalone.sh, with the
// built-in worker of services/connect.

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringtail/ringtail/services/connect"
)

func (a *app) connectCommand() *cobra.Command {
	standalone := &cobra.Command{
		Use:   "standalone WORKER.properties [CONNECTOR.properties...]",
		Short: "Run a standalone Kafka Connect worker (Kafka's connect-standalone.sh)",
		Long: "Run a Kafka Connect worker in standalone mode until SIGTERM or SIGINT, with the\n" +
			"connectors of the given files (Java .properties, or JSON {\"name\":...,\"config\":{...}});\n" +
			"more can be created through the REST API, for the life of the worker.\n" +
			"Kafka's quickstart files (config/connect-standalone.properties,\n" +
			"connect-file-source.properties, connect-file-sink.properties) work unchanged.\n" +
			"Built in: FileStreamSource and FileStreamSink, the String, JSON, ByteArray and\n" +
			"Confluent Avro converters, and the REST API (listeners, default\n" +
			"http://127.0.0.1:8083, with /metrics). Source offsets are kept in the\n" +
			"offset.storage.topic (default connect-offsets) and file lines are delivered\n" +
			"exactly once, across kills too. The worker's bootstrap.servers is used, not --bootstrap.",
		Args: minArgs(1, "WORKER.properties, then the connectors' .properties or .json files"),
		RunE: func(cmd *cobra.Command, args []string) error {
			worker, err := readPropertiesFile(args[0])
			if err != nil {
				return fmt.Errorf("worker config: %w", err)
			}
			var conns []map[string]string
			for _, f := range args[1:] {
				c, err := readConnectorFile(f)
				if err != nil {
					return fmt.Errorf("connector config: %w", err)
				}
				conns = append(conns, c)
			}
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return connect.RunStandalone(cmd.Context(), connect.StandaloneConfig{Worker: worker, Connectors: conns, Logger: log})
		},
	}
	return groupCommand("connect", "Kafka Connect worker", standalone)
}

func readPropertiesFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := connect.PropertiesMap(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// readConnectorFile reads a connector's .properties, or JSON as Kafka 3.5+
// also takes: {"name": ..., "config": {...}} or a flat object.
func readConnectorFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		var wrapped struct {
			Name   string            `json:"name"`
			Config map[string]string `json:"config"`
		}
		if err := json.Unmarshal(b, &wrapped); err == nil && wrapped.Config != nil {
			if wrapped.Name != "" {
				wrapped.Config["name"] = wrapped.Name
			}
			return wrapped.Config, nil
		}
		var flat map[string]string
		if err := json.Unmarshal(b, &flat); err != nil {
			return nil, fmt.Errorf("%s: not a connector config in JSON (want {\"name\":...,\"config\":{...}} with string values): %w", path, err)
		}
		return flat, nil
	}
	return readPropertiesFile(path)
}
