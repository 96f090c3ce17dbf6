package cli

import (
	"strings"
	"testing"
)

// Bad command lines of `ringtail user` and of the security flags fail with
// one line before any request is sent (the bootstrap is unreachable).
func TestUserCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "create", "alice"}, "user create: --password is required"},
		{[]string{"user", "create", "alice", "--password", "p", "--mechanism", "PLAIN"}, `--mechanism "PLAIN": valid are SCRAM-SHA-256, SCRAM-SHA-512`},
		{[]string{"user", "create", "alice", "--password", "p", "--iterations", "100"}, "--iterations 100: valid are 4096 to 16384"},
		{[]string{"user", "create"}, "wants one user NAME"},
		{[]string{"user", "delete", "a", "b"}, "wants one user NAME"},
		{[]string{"user", "list", "--sasl-mechanism", "GSSAPI", "--sasl-user", "u", "--sasl-password", "p"}, `--sasl-mechanism "GSSAPI": valid are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{[]string{"user", "list", "--sasl-mechanism", "PLAIN"}, "--sasl-mechanism PLAIN needs --sasl-user and --sasl-password"},
		{[]string{"user", "list", "--sasl-user", "u"}, "--sasl-user needs --sasl-mechanism"},
		{[]string{"user", "list", "--tls-ca", "/nonexistent/ca.pem"}, "--tls-ca: open /nonexistent/ca.pem"},
		{[]string{"user", "list", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
	} {
		r := run(t, "", nil, append([]string{"-b", "127.0.0.1:1"}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: code %d stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestParseScramMechanism(t *testing.T) {
	for in, want := range map[string]string{"scram-sha-256": "SCRAM-SHA-256", " SCRAM-SHA-512 ": "SCRAM-SHA-512"} {
		m, err := parseScramMechanism(in)
		if err != nil || m.String() != want {
			t.Errorf("%q: %v %v", in, m, err)
		}
	}
}
