// This test checks how a SIGHUP reload finds the settings that changed.
package daemon

import (
	"reflect"
	"testing"

	"github.com/ringtail/ringtail/config"
)

func TestChangedKeys(t *testing.T) {
	a := config.Default()
	b := config.Default()
	b.Ringtail.LogLevel = "debug"
	b.LogRetentionMs = 1000
	got := changedKeys(a.TOML(), b.TOML())
	want := []string{"log.retention.ms", "ringtail.log_level"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changedKeys = %v, want %v", got, want)
	}
	if got := changedKeys(a.TOML(), a.TOML()); len(got) != 0 {
		t.Fatalf("no change reported as %v", got)
	}
}
