package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ringtail/ringtail/config"
)

func (a *app) serveCommand() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve [--config FILE]",
		Short: "Run a Ringtail node until it is told to stop",
		Long: "Run a Ringtail node (broker, controller, or both, as process.roles says) until\n" +
			"SIGTERM or SIGINT. Without --config it runs a single broker+controller node with\n" +
			"data in ./ringtail-data and the Kafka listener on port 9092.",
		Args: exactArgs(0, "no arguments (the config file goes in --config)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.serve == nil {
				return errors.New("serve: this binary was built without a server")
			}
			if err := a.serve(cmd.Context(), configPath); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "server.toml to read (default: built-in defaults; see 'ringtail config defaults')")
	return cmd
}

func (a *app) configCommand() *cobra.Command {
	defaults := &cobra.Command{
		Use:   "defaults",
		Short: "Print a server.toml with every key, its default and what it does",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(a.stdout, config.DefaultTOML())
			return err
		},
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a server.toml; print ok, or what is wrong",
		Args:  exactArgs(1, "one FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := config.Load(args[0])
			if err != nil {
				return err
			}
			if _, err := config.ApplyIOConfig(c); err != nil { // iotune's file, as serve reads it
				return err
			}
			_, err = fmt.Fprintln(a.stdout, "ok")
			return err
		},
	}
	return groupCommand("config", "Work with server.toml", defaults, check, a.configImportCommand())
}
