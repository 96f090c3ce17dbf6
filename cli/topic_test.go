package cli

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestTopicDescribeHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1048575: "1.0 MiB",
		10 << 20: "10.0 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB", 2 << 50: "2.0 PiB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTopicDescribeSizeString(t *testing.T) {
	dirs := func(broker int32, size int64) kadm.DescribedLogDirs {
		return kadm.DescribedLogDirs{"/data": {Broker: broker, Dir: "/data", Topics: kadm.DescribedLogDirTopics{
			"t": {0: {Broker: broker, Dir: "/data", Topic: "t", Partition: 0, Size: size}},
		}}}
	}
	sizes := map[int32]kadm.DescribedLogDirs{1: dirs(1, 2048), 2: dirs(2, 4096), 3: dirs(3, 100)}
	p := kadm.PartitionDetail{Topic: "t", Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}}
	if got := sizeString(sizes, p); got != "2.0 KiB" {
		t.Errorf("leader's size: %q, want 2.0 KiB", got)
	}
	p.Leader = -1 // no leader: the largest replica that answered
	if got := sizeString(sizes, p); got != "4.0 KiB" {
		t.Errorf("no leader: %q, want 4.0 KiB", got)
	}
	p.Leader = 4 // a leader that did not answer
	delete(sizes, 2)
	if got := sizeString(sizes, p); got != "2.0 KiB" {
		t.Errorf("leader silent: %q, want 2.0 KiB", got)
	}
	if got := sizeString(nil, p); got != "?" {
		t.Errorf("nothing answered: %q, want ?", got)
	}
	p.Partition = 1
	if got := sizeString(sizes, p); got != "?" {
		t.Errorf("partition not stored anywhere: %q, want ?", got)
	}
}
