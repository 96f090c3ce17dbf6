// These tests prove `ringtail group` on share groups against franz-go's
// fake cluster (kfake), which serves the share-partition side's
// DescribeShareGroupOffsets, AlterShareGroupOffsets and
// DeleteShareGroupOffsets: describe shows the start offsets, reset-offsets
// moves them, delete-offsets drops them, list --type share lists the group.
package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestShareGroupCommandsAgainstFake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "sq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("sq"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	start := make(kadm.Offsets)
	start.Add(kadm.Offset{Topic: "sq", Partition: 0, At: 3, LeaderEpoch: -1})
	start.Add(kadm.Offset{Topic: "sq", Partition: 1, At: 0, LeaderEpoch: -1})
	if res, err := adm.AlterShareGroupOffsets(ctx, "sg", start); err != nil || res.Error() != nil {
		t.Fatalf("seeding start offsets: %v %v", err, res.Error())
	}
	cli := func(args ...string) result {
		t.Helper()
		r := run(t, "", nil, append(args, "--bootstrap", addr)...)
		if r.code != 0 {
			t.Fatalf("ringtail %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r
	}
	startOf := func(p string) string {
		t.Helper()
		out := cli("group", "describe", "sg").stdout
		if !strings.Contains(out, "Type: share") {
			t.Fatalf("describe is not a share group's:\n%s", out)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 4 && f[0] == "sg" && f[1] == "sq" && f[2] == p {
				return f[3]
			}
		}
		return "none"
	}
	if got := startOf("0"); got != "3" {
		t.Fatalf("start offset of partition 0: %s, want 3", got)
	}
	if out := cli("group", "list", "--type", "share").stdout; !strings.Contains(out, "sg") {
		t.Fatalf("list --type share:\n%s", out)
	}
	// A dry run changes nothing; --execute moves to the log end.
	if out := cli("group", "reset-offsets", "sg", "--topic", "sq", "--to-latest").stdout; !strings.Contains(out, "NEW-START-OFFSET") {
		t.Fatalf("reset plan:\n%s", out)
	}
	if got := startOf("0"); got != "3" {
		t.Fatalf("a dry run moved the start offset to %s", got)
	}
	cli("group", "reset-offsets", "sg", "--topic", "sq", "--to-latest", "--execute")
	if got := startOf("0"); got != "10" {
		t.Fatalf("start offset after --to-latest: %s, want 10", got)
	}
	cli("group", "delete-offsets", "sg", "--topic", "sq")
	// The fake drops a share group with no state left.
	if o, err := adm.DescribeShareGroupOffsets(ctx, "sg"); err == nil && o["sg"].Err == nil && len(o["sg"].Offsets["sq"]) > 0 {
		t.Fatalf("start offsets left after delete-offsets: %+v", o["sg"].Offsets)
	}
}
