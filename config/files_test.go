package config

import (
	"strings"
	"testing"
)

func TestMaxOpenFiles(t *testing.T) {
	for _, tc := range []struct {
		toml string
		want int
		err  string
	}{
		{"", 0, ""},
		{"[ringtail]\nmax_open_files = 15000", 15000, ""},
		{"[ringtail]\nmax_open_files = -1", -1, ""},
		{"[ringtail]\nmax_open_files = 8", 0, "at least 16"},
		{"[ringtail]\nmax_open_files = -2", 0, "unbounded"},
	} {
		c, err := Parse([]byte(tc.toml))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), "max_open_files") || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error naming max_open_files and %q", tc.toml, err, tc.err)
			}
			continue
		}
		if err != nil || c.Ringtail.MaxOpenFiles != tc.want {
			t.Errorf("%q: %v, max_open_files %d, want %d", tc.toml, err, c.Ringtail.MaxOpenFiles, tc.want)
		}
	}
}
