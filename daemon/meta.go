package daemon

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// meta.properties is Kafka's per-log-dir identity file:
//
//	version=1
//	cluster.id=<22-char base64 uuid>
//	node.id=<id>
//
// It is written on first start (Ringtail formats an empty data dir itself,
// where Kafka needs `kafka-storage format`) and checked on every start so a
// data dir is never opened by the wrong node or cluster.
const metaPropertiesName = "meta.properties"

type metaProperties struct {
	ClusterID string
	NodeID    int32
}

// newClusterID makes a Kafka-style cluster id: a random UUID in URL-safe
// base64 without padding.
func newClusterID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("daemon: crypto/rand: %v", err))
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// loadOrFormat reads dir/meta.properties, or writes it when absent. It
// refuses a data dir that belongs to another node or cluster.
func loadOrFormat(dir string, nodeID int32, wantCluster string) (metaProperties, bool, error) {
	path := filepath.Join(dir, metaPropertiesName)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		m := metaProperties{ClusterID: wantCluster, NodeID: nodeID}
		if m.ClusterID == "" {
			m.ClusterID = newClusterID()
		}
		body := fmt.Sprintf("#\n#Written by ringtail\nversion=1\ncluster.id=%s\nnode.id=%d\n", m.ClusterID, m.NodeID)
		tmp := path + ".tmp"
		if err := writeFileSync(tmp, []byte(body)); err != nil {
			return m, false, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return m, false, fmt.Errorf("daemon: %w", err)
		}
		return m, true, syncDir(dir)
	}
	if err != nil {
		return metaProperties{}, false, fmt.Errorf("daemon: %w", err)
	}
	defer f.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return metaProperties{}, false, fmt.Errorf("daemon: %s: malformed line %q", path, line)
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return metaProperties{}, false, fmt.Errorf("daemon: %s: %w", path, err)
	}
	id, err := strconv.ParseInt(props["node.id"], 10, 32)
	if err != nil || props["cluster.id"] == "" {
		return metaProperties{}, false, fmt.Errorf("daemon: %s: needs node.id and cluster.id (found %q, %q)", path, props["node.id"], props["cluster.id"])
	}
	m := metaProperties{ClusterID: props["cluster.id"], NodeID: int32(id)}
	if m.NodeID != nodeID {
		return m, false, fmt.Errorf("daemon: data dir %s belongs to node.id %d, but node.id = %d is configured", dir, m.NodeID, nodeID)
	}
	if wantCluster != "" && wantCluster != m.ClusterID {
		return m, false, fmt.Errorf("daemon: data dir %s belongs to cluster %s, but cluster.id = %q is configured", dir, m.ClusterID, wantCluster)
	}
	return m, false, nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("daemon: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("daemon: %w", err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("daemon: sync %s: %w", dir, err)
	}
	return nil
}
