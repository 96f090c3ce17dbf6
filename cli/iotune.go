package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/iotune"
)

// `ringtail iotune` (Redpanda's `rpk iotune` as the model): measure the
// data directory's device and write the [ringtail] settings it suggests to
// the io config file that serve applies (config.ApplyIOConfig).

// iotuneMaxDuration bounds --duration: this is a tuning run, not a soak.
const iotuneMaxDuration = 10 * time.Minute

func (a *app) iotuneCommand() *cobra.Command {
	var configPath, dir, out, output string
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "iotune [--config FILE] [--dir DIR] [--duration 10s] [--out FILE]",
		Short: "Measure the data directory's disk and write the settings it suggests for serve",
		Long: "Measure the device under the data directory (--dir, else the first of --config's\n" +
			"log.dirs): sequential writes with an fdatasync after each at 4 KiB to 1 MiB, the\n" +
			"fdatasync latency percentiles, parallel writers against one, and sequential\n" +
			"reads, using O_DIRECT where the file system allows it, in temporary files it\n" +
			"removes, for about --duration in all. It prints what it found and writes the\n" +
			"recommended [ringtail] settings (shards, io_engine, group_commit) to --out\n" +
			"(default: --config's ringtail.io_config_file, /etc/ringtail/io-config.toml),\n" +
			"which `ringtail serve` applies where its server.toml does not set them.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration <= 0 || duration > iotuneMaxDuration {
				return fmt.Errorf("--duration %s: want a duration above 0 and at most %s, e.g. 10s", duration, iotuneMaxDuration)
			}
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			if dir == "" {
				dir = cfg.DataDir()
			}
			if out == "" {
				out = cfg.Ringtail.IOConfigFile
			}
			if out == "" {
				return fmt.Errorf("--out: give the file to write (the config's ringtail.io_config_file is empty)")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("iotune: data directory: %w", err)
			}
			fmt.Fprintf(a.stderr, "ringtail iotune: measuring %s for about %s\n", dir, duration)
			m, err := iotune.Measure(cmd.Context(), dir, duration, runtime.NumCPU())
			if err != nil {
				return err
			}
			m.IOURing, m.IOURingW = probeIOURing()
			rec := iotune.Recommend(m)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return fmt.Errorf("iotune: --out: %w", err)
			}
			if err := os.WriteFile(out, []byte(iotune.File(m, rec, time.Now())), 0o644); err != nil {
				return fmt.Errorf("iotune: --out: %w", err)
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"measurements": m, "recommendation": rec, "file": out})
			}
			fmt.Fprint(a.stdout, iotune.Summary(m, rec))
			fmt.Fprintf(a.stdout, "Wrote %s; `ringtail serve` applies it where server.toml does not set these keys.\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&configPath, "config", "c", "", "server.toml whose log.dirs and ringtail.io_config_file to use")
	f.StringVar(&dir, "dir", "", "directory on the device to measure (default: the config's first log.dirs entry)")
	f.DurationVar(&duration, "duration", 10*time.Second, "about how long to measure in all")
	f.StringVar(&out, "out", "", "io config file to write (default: the config's ringtail.io_config_file, "+config.DefaultIOConfigFile+")")
	f.StringVar(&output, "output", "text", "text, or json (the measurements and the recommendation)")
	return cmd
}

// probeIOURing reports whether an io_uring ring can be set up here, and
// why not.
func probeIOURing() (bool, string) {
	e, _, err := iocore.NewEngine(iocore.EngineIOUring, 8)
	if err != nil {
		return false, err.Error()
	}
	_ = e.Close()
	return true, ""
}
