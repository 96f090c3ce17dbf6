package daemon

// The node's side of systemd (Type=notify): STATUS lines while starting,
// READY=1 once storage is recovered and the listeners are up (Start),
// WATCHDOG=1 from a health check that sees every shard make progress,
// RELOADING=1/READY=1 around a SIGHUP reload, STOPPING=1 on SIGTERM (Serve).
// Without NOTIFY_SOCKET every notification is a no-op, so the same binary
// runs under systemd, in a shell and under the tests.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/iocore"
)

// logLevel is the level of the logger NewLogger makes; a SIGHUP reload
// changes it (ringtail.log_level).
var logLevel slog.LevelVar

// healthInterval is how often the shard health check runs when systemd
// asks for no watchdog (it still backs /v1/status/live).
const healthInterval = 2 * time.Second

func notify(state string) { _, _ = sddaemon.SdNotify(false, state) }

// notifyHUP starts catching SIGHUP (whose default action would end the
// process) before the node starts, so an early reload request is kept for
// later rather than fatal.
func notifyHUP() chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch
}

// waitSignals blocks until ctx ends (SIGTERM, SIGINT), reloading the
// config at path on each SIGHUP.
func (n *Node) waitSignals(ctx context.Context, path string, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			notify("STATUS=stopping")
			return
		case <-hup:
			n.reload(path)
		}
	}
}

// reload re-reads the config file and applies what can change at run time:
// ringtail.log_level, and the TLS key, certificates and CAs (re-read from
// their files). Every other changed key is logged as needing a
// restart. A file that does not parse leaves everything as it was.
func (n *Node) reload(path string) {
	notify(sddaemon.SdNotifyReloading)
	defer notify(sddaemon.SdNotifyReady)
	// The keys, certificates and CAs are re-read from the files the
	// running config names; a failure keeps the ones in use.
	for _, st := range uniqueTLS(n.tls) {
		_ = st.Reload("SIGHUP")
	}
	if path == "" {
		n.log.Warn("SIGHUP: no config file to reload (started without --config)")
		return
	}
	cfg, err := config.Load(path)
	if err != nil {
		n.log.Error("SIGHUP: config not reloaded; keeping the running settings", "err", err)
		notify("STATUS=serving; last reload failed: " + err.Error())
		return
	}
	var applied, restart []string
	for _, key := range changedKeys(n.cfg.TOML(), cfg.TOML()) {
		switch key {
		case "ringtail.log_level":
			var level slog.Level
			_ = level.UnmarshalText([]byte(cfg.Ringtail.LogLevel))
			logLevel.Set(level)
			applied = append(applied, key+" = "+cfg.Ringtail.LogLevel)
		default:
			restart = append(restart, key)
		}
	}
	n.log.Info("SIGHUP: config reloaded", "file", path, "applied", applied, "need_restart", restart)
	if len(restart) > 0 {
		notify("STATUS=serving; changed settings that need a restart: " + strings.Join(restart, ", "))
	} else {
		notify("STATUS=serving")
	}
}

// changedKeys compares two Config.TOML() documents (every key, one per
// line) and returns the dotted names of the keys whose values differ, with
// [ringtail] keys as "ringtail.<key>".
func changedKeys(oldDoc, newDoc string) []string {
	parse := func(doc string) (map[string]string, []string) {
		m := map[string]string{}
		var order []string
		prefix := ""
		for _, line := range strings.Split(doc, "\n") {
			line = strings.TrimSpace(line)
			if line == "[ringtail]" {
				prefix = "ringtail."
				continue
			}
			k, v, ok := strings.Cut(line, " = ")
			if !ok {
				continue
			}
			m[prefix+k] = v
			order = append(order, prefix+k)
		}
		return m, order
	}
	o, _ := parse(oldDoc)
	nw, order := parse(newDoc)
	var out []string
	for _, k := range order {
		if o[k] != nw[k] {
			out = append(out, k)
		}
	}
	return out
}

// shardProbe tracks one shard's health-check task.
type shardProbe struct {
	inflight atomic.Bool
	doneTick atomic.Int64 // tick of the last probe that completed
}

// watchdog runs the shard health check: each tick it checks that the probe
// task queued on every shard at the previous tick has run, then queues the
// next ones. A shard that is stuck (in a syscall, a loop, a stalled disk)
// never runs its probe, so the check fails, /v1/status/live answers 503,
// and systemd stops receiving WATCHDOG=1 and restarts the service after
// WatchdogSec.
type watchdog struct {
	rt      *iocore.Runtime
	log     *slog.Logger
	every   time.Duration
	sdPings bool // systemd asked for WATCHDOG=1 (WATCHDOG_USEC)
	probes  []shardProbe
	stop    chan struct{}
	done    chan struct{}

	mu struct {
		sync.Mutex
		err error // the last check's failure; nil: healthy
	}
}

// startWatchdog starts the health check on the node's shards; with
// WATCHDOG_USEC set it pings systemd three times per watchdog interval
// while the check passes.
func (n *Node) startWatchdog() {
	w := &watchdog{rt: n.rt, log: n.log, every: healthInterval, stop: make(chan struct{}), done: make(chan struct{})}
	w.probes = make([]shardProbe, n.rt.Len())
	if d, err := sddaemon.SdWatchdogEnabled(false); err != nil {
		n.log.Warn("systemd watchdog settings unusable; not pinging", "err", err)
	} else if d > 0 {
		w.sdPings = true
		w.every = d / 3
		n.log.Info("systemd watchdog enabled", "watchdog_interval", d, "ping_every", w.every)
	}
	n.ops.wd.Store(w)
	go w.run()
}

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	var tick int64
	w.probe(tick)
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		tick++
		err := w.check(tick)
		w.mu.Lock()
		was := w.mu.err
		w.mu.err = err
		w.mu.Unlock()
		switch {
		case err != nil && was == nil:
			w.log.Error("health check failed; withholding systemd watchdog pings", "err", err)
			notify("STATUS=unhealthy: " + err.Error())
		case err == nil && was != nil:
			w.log.Info("health check passes again", "was", was)
			notify("STATUS=serving")
		}
		if err == nil && w.sdPings {
			notify(sddaemon.SdNotifyWatchdog)
		}
		w.probe(tick)
	}
}

// check reports the shards whose probe from the previous tick has not run.
func (w *watchdog) check(tick int64) error {
	var stuck []string
	for i := range w.probes {
		if w.probes[i].doneTick.Load() < tick-1 {
			stuck = append(stuck, fmt.Sprint(i))
		}
	}
	if len(stuck) == 0 {
		return nil
	}
	return fmt.Errorf("shard %s made no progress for %v", strings.Join(stuck, ", "), w.every)
}

// probe queues a no-op task on every shard that has none queued.
func (w *watchdog) probe(tick int64) {
	for i := range w.probes {
		p := &w.probes[i]
		if p.inflight.Swap(true) {
			continue
		}
		s := w.rt.Shard(i)
		go func() {
			// ErrClosed: the runtime is closing, and the watchdog with it.
			_ = s.Do(func() error { return nil })
			p.doneTick.Store(tick)
			p.inflight.Store(false)
		}()
	}
}

// health is the last check's result.
func (w *watchdog) health() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.err
}

// close stops the loop; probes still queued on a stuck shard are left to
// the runtime's close.
func (w *watchdog) close() {
	if w == nil {
		return
	}
	close(w.stop)
	<-w.done
}
