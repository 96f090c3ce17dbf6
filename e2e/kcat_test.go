// This file proves that librdkafka's kcat works unchanged against Ringtail:
// -L lists the broker and its topics, and 10,000 keyed lines go in with -P
// and come back byte for byte with -C -o beginning -e.
package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/testkit"
)

func needKcat(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed (apt-get install kcat; .ci/run installs it)")
	}
	return p
}

func TestKcatMetadataAndRoundTrip(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kcat := needKcat(t)
	n := testkit.StartNode(t, testkit.Options{})
	n.CreateTopic("kcat-lines", 1, nil)

	out, err := exec.Command(kcat, "-b", n.Addr(), "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	for _, want := range []string{"1 brokers:", fmt.Sprintf("broker 1 at 127.0.0.1:%d", n.Port), `topic "kcat-lines" with 1 partitions`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kcat -L output lacks %q:\n%s", want, out)
		}
	}

	var in bytes.Buffer
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&in, "key-%05d:value %d with some text \u00e9\u00e8 %x\n", i%97, i, i*7919)
	}
	prod := exec.Command(kcat, "-b", n.Addr(), "-P", "-t", "kcat-lines", "-K:", "-X", "acks=all")
	prod.Stdin = bytes.NewReader(in.Bytes())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	cons := exec.Command(kcat, "-b", n.Addr(), "-C", "-t", "kcat-lines", "-o", "beginning", "-e", "-K:", "-q")
	got, err := cons.Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	if !bytes.Equal(got, in.Bytes()) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(in.String(), "\n")
		t.Fatalf("consumed %d lines, produced %d; first difference near line %d", len(gl), len(wl), firstDiff(gl, wl))
	}
}

func firstDiff(a, b []string) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return len(a)
}
