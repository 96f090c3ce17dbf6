package cli

import (
	"strings"
	"testing"
)

// Bad sign-in flags of `ringtail console` fail with one line before it
// serves anything.
func TestConsoleAuthFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"console", "--auth", "basic"}, `--auth "basic": valid are none, http_basic`},
		{[]string{"console", "--auth", "http_basic"}, "--auth http_basic needs --sasl-mechanism"},
		{[]string{"console", "--auth", "http_basic", "--sasl-mechanism", "GSSAPI"}, "--auth http_basic needs --sasl-mechanism"},
	} {
		r := run(t, "", nil, append([]string{"-b", "127.0.0.1:1"}, tc.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: code %d stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
