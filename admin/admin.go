// Package admin is a node's admin HTTP server (ringtail.admin_listen, port
// 9644 by default): Prometheus /metrics, the /v1/status/ready and
// /v1/status/live probes, and /debug/pprof.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Version is the build's version, set with
// -ldflags "-X github.com/ringtail/ringtail/admin.Version=..." by the
// package build; it shows in ringtail_build_info.
var Version = "dev"

// Limits of the HTTP server: probes and scrapes are small, and a slow or
// stuck client must not hold a connection forever.
const (
	readHeaderTimeout = 5 * time.Second
	// writeTimeout leaves room for /debug/pprof/profile?seconds=30.
	writeTimeout = 65 * time.Second
	idleTimeout  = 2 * time.Minute
)

// Config configures a Server.
type Config struct {
	// Listen is host:port (ringtail.admin_listen).
	Listen string
	// Metrics is served on /metrics.
	Metrics *Metrics
	// Live reports whether the node makes progress (the watchdog's health
	// check); nil counts as live.
	Live   func() error
	Logger *slog.Logger
}

// Server is the admin HTTP server.
type Server struct {
	cfg   Config
	ln    net.Listener
	srv   *http.Server
	mux   *http.ServeMux
	ready atomic.Bool
	done  chan struct{}
}

// Listen binds the admin address and starts serving. /v1/status/ready
// answers 503 until SetReady(true).
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin: ringtail.admin_listen = %q: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, ln: ln, mux: http.NewServeMux(), done: make(chan struct{})}
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{cfg.Logger}}))
	}
	s.mux.HandleFunc("GET /v1/status/ready", s.handleReady)
	s.mux.HandleFunc("GET /v1/status/live", s.handleLive)
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("admin server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handle adds a handler (the daemon's test-only fault hooks).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetReady sets what /v1/status/ready answers.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Close stops the server and waits for in-flight handlers to return (so
// that nothing reads node state after the node starts closing it); a
// handler still running after ctx ends is cut off.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready")
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Live != nil {
		if err := s.cfg.Live(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not live:", err)
			return
		}
	}
	fmt.Fprintln(w, "live")
}

// slogErrorLog adapts promhttp's error log to slog.
type slogErrorLog struct{ l *slog.Logger }

func (e slogErrorLog) Println(v ...any) { e.l.Warn("metrics: " + fmt.Sprint(v...)) }
