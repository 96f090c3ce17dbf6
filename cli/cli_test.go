// These tests prove the command tree without a broker: dispatch to serve,
// the config commands, usage errors as one line with exit status 1, flags
// accepted before or after the topic, and the --bootstrap default.
package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/config"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, stdin string, serve func(context.Context, string) error, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(context.Background(), args, strings.NewReader(stdin), &out, &errb, serve)
	return result{code, out.String(), errb.String()}
}

// closedPort is an address nothing listens on, so a client command fails at
// once with "connection refused" after its flags have been parsed.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func wantOneLineError(t *testing.T, r result, contains string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit status %d, want 1 (stderr %q)", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "ringtail: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q is not one line starting \"ringtail: \"", r.stderr)
	}
	if !strings.Contains(r.stderr, contains) {
		t.Errorf("stderr %q does not contain %q", r.stderr, contains)
	}
}

func TestServe(t *testing.T) {
	var got []string
	serve := func(_ context.Context, path string) error { got = append(got, path); return nil }
	for _, args := range [][]string{{"serve"}, {"serve", "--config", "/etc/ringtail/server.toml"}, {"serve", "-c", "x.toml"}, {"serve", "--config=y.toml"}} {
		if r := run(t, "", serve, args...); r.code != 0 || r.stderr != "" {
			t.Errorf("%v: %+v", args, r)
		}
	}
	if want := []string{"", "/etc/ringtail/server.toml", "x.toml", "y.toml"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("serve got paths %q, want %q", got, want)
	}
	failing := func(context.Context, string) error { return errors.New("config: x.toml: unknown key \"y\"") }
	wantOneLineError(t, run(t, "", failing, "serve", "-c", "x.toml"), `ringtail: serve: config: x.toml: unknown key "y"`)
	wantOneLineError(t, run(t, "", nil, "serve"), "built without a server")
	wantOneLineError(t, run(t, "", serve, "serve", "extra"), "serve: wants no arguments")
}

func TestServeGetsContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	var seen any
	Execute(ctx, []string{"serve"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(ctx context.Context, _ string) error {
		seen = ctx.Value(key{})
		return nil
	})
	if seen != "v" {
		t.Errorf("serve did not get Execute's context")
	}
}

func TestConfigCommands(t *testing.T) {
	r := run(t, "", nil, "config", "defaults")
	if r.code != 0 || r.stdout != config.DefaultTOML() {
		t.Errorf("config defaults: code %d, stdout differs from config.DefaultTOML()", r.code)
	}

	dir := t.TempDir()
	good, bad := dir+"/good.toml", dir+"/bad.toml"
	writeFile(t, good, "num.partitions = 3\n")
	writeFile(t, bad, "log.retension.hours = 1\n")
	if r := run(t, "", nil, "config", "check", good); r.code != 0 || r.stdout != "ok\n" {
		t.Errorf("config check good: %+v", r)
	}
	wantOneLineError(t, run(t, "", nil, "config", "check", bad), `config: `+bad+`: unknown key "log.retension.hours" (did you mean "log.retention.hours"?)`)
	wantOneLineError(t, run(t, "", nil, "config", "check"), "config check: wants one FILE")
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sevre"}, `unknown command "sevre" (did you mean "serve"?)`},
		{[]string{"topic", "lst"}, `topic: unknown command "lst" (did you mean "list"?)`},
		{[]string{"produce"}, "produce: wants one TOPIC, got 0 argument(s) (see 'ringtail produce --help')"},
		{[]string{"consume", "a", "b"}, "consume: wants one TOPIC, got 2 argument(s)"},
		{[]string{"consume", "t", "--bogus"}, "consume: unknown flag: --bogus"},
		{[]string{"topic", "create"}, "topic create: wants one topic NAME"},
		{[]string{"topic", "delete"}, "topic delete: wants at least one topic NAME"},
		{[]string{"topic", "create", "t", "--partitions", "x"}, `invalid argument "x" for "-p, --partitions"`},
		{[]string{"topic", "create", "t", "--config", "retention.ms"}, `--config "retention.ms": want key=value`},
		{[]string{"topic", "alter-config", "t"}, "nothing to do"},
		{[]string{"produce", "t", "--acks", "2"}, `--acks "2": want -1`},
		{[]string{"produce", "t", "--compression", "brotli"}, `--compression "brotli"`},
		{[]string{"produce", "t", "--header", "nokey"}, `--header "nokey": want key=value`},
		{[]string{"produce", "t", "--key-separator", ""}, "--key-separator must not be empty"},
		{[]string{"produce", "t", "--partition", "-2"}, "--partition -2"},
		{[]string{"consume", "t", "--from-beginning", "--offset", "5"}, "give --from-beginning or --offset, not both"},
		{[]string{"consume", "t", "--format", "%v", "--print-key"}, "give --format or the --print-* shortcuts, not both"},
		{[]string{"consume", "t", "--format", "%q"}, "unknown token %q"},
		{[]string{"consume", "t", "--offset", "first"}, `--offset "first"`},
		{[]string{"consume", "t", "-n", "-1"}, "--max-messages -1"},
		{[]string{"consume", "t", "--timeout", "soon"}, `invalid argument "soon" for "--timeout"`},
		{[]string{"topic", "list", "-b", ""}, "--bootstrap is empty"},
	}
	for _, tt := range tests {
		wantOneLineError(t, run(t, "", nil, tt.args...), tt.want)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"topic"}, {"consume", "--help"}, {"topic", "create", "-h"}} {
		r := run(t, "", nil, args...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

// Flags may come before or after the topic; with nothing listening, the
// command gets as far as dialing, which proves the line parsed.
func TestFlagsAroundTopic(t *testing.T) {
	addr := closedPort(t)
	for _, args := range [][]string{
		{"consume", "orders", "--from-beginning", "-n", "5", "-b", addr},
		{"consume", "-b", addr, "--offset", "-3", "--partition", "0", "orders", "--timeout", "2s"},
		{"-b", addr, "consume", "--format", `%k%s%v\n`, "--key-separator", ":", "orders"},
		{"topic", "describe", "-b", addr, "a", "b"},
		{"topic", "create", "orders", "-b", addr, "--partitions", "3", "--config", "cleanup.policy=compact,delete", "--config", "retention.ms=1"},
	} {
		wantOneLineError(t, run(t, "", nil, args...), "connection refused")
	}
}

func TestBootstrapDefault(t *testing.T) {
	r := run(t, "", nil, "topic", "list", "--help")
	if !strings.Contains(r.stdout, `(default "127.0.0.1:9092")`) {
		t.Errorf("--bootstrap default not 127.0.0.1:9092:\n%s", r.stdout)
	}
	t.Setenv(bootstrapEnv, "10.1.2.3:19092")
	r = run(t, "", nil, "topic", "list", "--help")
	if !strings.Contains(r.stdout, `(default "10.1.2.3:19092")`) {
		t.Errorf("$%s does not set the --bootstrap default:\n%s", bootstrapEnv, r.stdout)
	}
}

func TestExecuteSkipsProgramName(t *testing.T) {
	var got string
	serve := func(_ context.Context, p string) error { got = p; return nil }
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), append([]string{programName()}, "serve", "-c", "z.toml"), strings.NewReader(""), &out, &errb, serve); code != 0 || got != "z.toml" {
		t.Errorf("Execute(os.Args...) = %d, serve got %q, stderr %q", code, got, errb.String())
	}
}

func TestDescribeError(t *testing.T) {
	tests := []struct {
		err  error
		msg  string
		want string
	}{
		{kerr.TopicAlreadyExists, "", "TOPIC_ALREADY_EXISTS: Topic with this name already exists."},
		{kerr.InvalidConfig, `invalid config: retention.ms = "x"`, `INVALID_CONFIG: Configuration is invalid. (invalid config: retention.ms = "x")`},
		{kerr.InvalidConfig, "Configuration is invalid.", "INVALID_CONFIG: Configuration is invalid."},
		{errors.New("unable to dial: refused"), "", "unable to dial: refused"},
	}
	for _, tt := range tests {
		if got := describeError(tt.err, tt.msg); got != tt.want {
			t.Errorf("describeError(%v, %q) = %q, want %q", tt.err, tt.msg, got, tt.want)
		}
	}
	err := failed(`create topic "t"`, kerr.TopicAlreadyExists, "")
	if !errors.Is(err, kerr.TopicAlreadyExists) || err.Error() != `create topic "t": TOPIC_ALREADY_EXISTS: Topic with this name already exists.` {
		t.Errorf("failed() = %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func programName() string { return os.Args[0] }
