package main

import (
	"os"
	"reflect"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// The command name holds a space and a ')'.
	line := "4242 (ring tail)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n"
	got, err := parseStatCPU(line)
	if err != nil || got != 3.25 {
		t.Fatalf("parseStatCPU = %v, %v; want 3.25 s (325 ticks)", got, err)
	}
	if _, err := parseStatCPU("4242 (x) S 1 2"); err == nil {
		t.Error("want an error for a short line")
	}
	if s, err := cpuSeconds(os.Getpid()); err != nil || s < 0 {
		t.Errorf("cpuSeconds(self) = %v, %v", s, err)
	}
}

func TestCPUListAndPinning(t *testing.T) {
	if got := parseCPUList("0-2,5,7-8"); !reflect.DeepEqual(got, []int{0, 1, 2, 5, 7, 8}) {
		t.Errorf("parseCPUList = %v", got)
	}
	if got := parseCPUList("3-1"); got != nil {
		t.Errorf("parseCPUList(3-1) = %v, want nil", got)
	}
	if p, _ := choosePinning("off", []int{0, 1}); p.broker != "" {
		t.Errorf("--pin off pinned: %+v", p)
	}
	if p, why := choosePinning("auto", []int{0}); p.broker != "" || why == "" {
		t.Errorf("one CPU pinned: %+v %q", p, why)
	}
	p, _ := choosePinning("auto", []int{0, 1, 2, 3, 4})
	if p.taskset != "" && (p.broker != "0,1" || p.load != "2,3,4") {
		t.Errorf("five CPUs: broker %q load %q", p.broker, p.load)
	}
	p = pinning{broker: "0", load: "1", taskset: "/usr/bin/taskset"}
	bin, args := p.wrap(p.load, "rt", []string{"bench"})
	if bin != "/usr/bin/taskset" || !reflect.DeepEqual(args, []string{"-c", "1", "rt", "bench"}) {
		t.Errorf("wrap = %s %q", bin, args)
	}
}
