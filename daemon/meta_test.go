// These tests prove that a data dir is formatted once with a Kafka-style
// meta.properties and afterwards refuses a node or cluster it does not
// belong to.
package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetaPropertiesFormatAndCheck(t *testing.T) {
	dir := t.TempDir()
	m, formatted, err := loadOrFormat(dir, 3, "")
	if err != nil || !formatted || m.NodeID != 3 || len(m.ClusterID) != 22 {
		t.Fatalf("format: %+v formatted=%v err=%v", m, formatted, err)
	}
	body, _ := os.ReadFile(filepath.Join(dir, metaPropertiesName))
	for _, want := range []string{"version=1", "node.id=3", "cluster.id=" + m.ClusterID} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("meta.properties lacks %q:\n%s", want, body)
		}
	}
	again, formatted, err := loadOrFormat(dir, 3, m.ClusterID)
	if err != nil || formatted || again != m {
		t.Fatalf("reload: %+v formatted=%v err=%v", again, formatted, err)
	}
	if _, _, err := loadOrFormat(dir, 4, ""); err == nil || !strings.Contains(err.Error(), "node.id") {
		t.Fatalf("wrong node id accepted: %v", err)
	}
	if _, _, err := loadOrFormat(dir, 3, "some-other-cluster"); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Fatalf("wrong cluster id accepted: %v", err)
	}
	os.WriteFile(filepath.Join(dir, metaPropertiesName), []byte("version=1\nnode.id=x\n"), 0o644)
	if _, _, err := loadOrFormat(dir, 3, ""); err == nil {
		t.Fatal("malformed meta.properties accepted")
	}
}
