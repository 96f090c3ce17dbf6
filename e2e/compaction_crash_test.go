package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// kill -9 during cleaning passes (issue 12): one node, one data dir, a
// compacted topic with one partition and small segments. Each round starts
// the node with RINGTAIL_TEST_CLEANER_STALL set to a step of a cleaning
// pass (written: the .cleaned files are written; manifest: cleaner.swap is
// durable; renaming: on the shard, between two renames; committed: renamed,
// manifest and *.deleted files not yet removed) or to none (a kill right
// after producing, at a random moment of whatever the cleaner does then),
// produces keyed updates with acks=all, waits until the pass stalls there
// and kills the node with SIGKILL. Restarted without the hook, the node
// must serve every key's latest acknowledged value as the last one read
// for that key (or a later value whose acknowledgement the kill cut off),
// at its acknowledged offset, with offsets strictly increasing (franz-go,
// and kcat every few rounds), and recovery must have left no .cleaned,
// .deleted or .swap file in the partition dir.
//
// RINGTAIL_CLEANER_CRASH_SEED picks another schedule of steps (logged).
func TestKillDuringCleaning(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	const (
		topic     = "compacted-crash"
		rounds    = 24
		keys      = 200
		perRound  = 2500
		stallWait = 20 * time.Second
		stallEnv  = "RINGTAIL_TEST_CLEANER_STALL"
	)
	steps := []string{"written", "manifest", "renaming", "committed"}
	seed := uint64(20261203)
	if s := os.Getenv("RINGTAIL_CLEANER_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RINGTAIL_CLEANER_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// Every step, and a plain kill, twice; the other rounds drawn at random.
	choices := append(append([]string(nil), steps...), "none")
	var schedule []string
	for range 2 {
		schedule = append(schedule, choices...)
	}
	for len(schedule) < rounds {
		schedule = append(schedule, choices[rng.IntN(len(choices))])
	}
	rng.Shuffle(len(schedule), func(i, j int) { schedule[i], schedule[j] = schedule[j], schedule[i] })
	t.Logf("seed %d (RINGTAIL_CLEANER_CRASH_SEED), schedule %v", seed, schedule)

	n := testkit.NewNode(t, testkit.Options{Settings: map[string]string{"log.cleaner.backoff.ms": "100"}})
	partDir := filepath.Join(n.DataDir, topic+"-0")
	kcat, kcatErr := exec.LookPath("kcat")
	if kcatErr != nil {
		t.Logf("kcat is not installed: franz-go reads only (.ci/run installs kcat)")
	}

	// Every value is "<seq>-r<round>-<padding>" with seq global and
	// increasing in produce order; keyOf[seq] is the key it went to.
	const (
		stAttempted = 1
		stAcked     = 2
	)
	var (
		mu    sync.Mutex
		keyOf []int
		state []int8 // per seq: attempted, acked
		// floor per key: the latest acknowledged value, or a later one
		// already served after a restart; -1 when none.
		floorSeq = make([]int, keys)
		floorOff = make([]int64, keys)
		maxAcked = int64(-1)
	)
	for k := range floorSeq {
		floorSeq[k] = -1
	}
	keyName := func(k int) string { return fmt.Sprintf("key-%03d", k) }
	padding := strings.Repeat("x", 24)

	reached := map[string]int{}        // rounds whose pass stalled at the step
	swapsCompleted := 0                // restarts whose recovery completed a swap
	filesAtRestart := map[string]int{} // .cleaned/.deleted/.swap files left by kills, by suffix
	unackedServed := 0                 // keys whose last value read was cut off from its ack
	start := time.Now()

	for round, step := range schedule {
		roundStart := time.Now()
		n.Env = nil
		if step != "none" {
			n.Env = []string{stallEnv + "=" + step}
		}
		n.Start()
		if round == 0 {
			seg, ratio, policy := "16384", "0.1", "compact"
			n.CreateTopic(topic, 1, map[string]*string{"segment.bytes": &seg, "min.cleanable.dirty.ratio": &ratio, "cleanup.policy": &policy})
		}

		// Produce asynchronously: a pass stalled on the shard (renaming)
		// holds up appends until the kill, and only what was acknowledged
		// counts.
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DefaultProduceTopic(topic),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(4096),
			kgo.ProducerLinger(2*time.Millisecond), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithTimeout(context.Background(), time.Minute)
		produced := make(chan struct{})
		mu.Lock()
		first := len(keyOf)
		recs := make([]*kgo.Record, 0, perRound)
		for i := range perRound {
			seq, k := first+i, rng.IntN(keys)
			keyOf = append(keyOf, k)
			state = append(state, stAttempted)
			recs = append(recs, &kgo.Record{Key: []byte(keyName(k)), Value: fmt.Appendf(nil, "%07d-r%02d-%s", seq, round, padding)})
		}
		mu.Unlock()
		go func() {
			defer close(produced)
			for i, r := range recs {
				seq := first + i
				cl.Produce(pctx, r, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						return // not acknowledged
					}
					state[seq] = stAcked
					k := keyOf[seq]
					if seq > floorSeq[k] {
						floorSeq[k], floorOff[k] = seq, r.Offset
					}
					maxAcked = max(maxAcked, r.Offset)
				})
			}
			_ = cl.Flush(pctx)
		}()

		stalled := false
		if step == "none" {
			select {
			case <-produced:
			case <-time.After(stallWait):
				t.Fatalf("round %d: producing %d records took over %v", round, perRound, stallWait)
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		} else {
			line := `msg="cleaner stalled for a test" step=` + step
			deadline := time.Now().Add(stallWait)
			for !stalled && time.Now().Before(deadline) {
				stalled = strings.Contains(n.LogSinceLastStart(), line)
				if !stalled {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if stalled {
				reached[step]++
				// Off the shard the stall holds up no append: let the
				// producer finish, so the kill leaves more to recover.
				if step != "renaming" {
					select {
					case <-produced:
					case <-time.After(10 * time.Second):
					}
				}
			} else {
				t.Logf("round %d: no pass stalled at %s within %v; killing anyway", round, step, stallWait)
			}
		}
		n.Kill()
		killedAt := time.Now()
		pcancel()
		cl.Close() // fails what was not acknowledged
		select {
		case <-produced:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the producer did not return after the kill", round)
		}
		mu.Lock()
		acked := 0
		for seq := first; seq < len(state); seq++ {
			if state[seq] == stAcked {
				acked++
			}
		}
		mu.Unlock()
		leftovers := cleanerFiles(t, partDir)
		for suf, c := range bySuffix(leftovers) {
			filesAtRestart[suf] += c
		}

		// Restart without the hook: recovery must finish or roll back the
		// swap before the partition serves.
		n.Env = nil
		n.Start()
		restartLog := n.LogSinceLastStart()
		if strings.Contains(restartLog, "completed an interrupted cleaner swap") {
			swapsCompleted++
		} else if stalled && step != "written" {
			t.Errorf("round %d: killed with cleaner.swap written (stall at %s; files %v) but the restart did not complete the swap", round, step, leftovers)
		}
		// A .cleaned or .swap file written before the kill is an orphan
		// that recovery missed (a pass after the restart writes new ones).
		for _, f := range cleanerFiles(t, partDir) {
			if filepath.Ext(f) == ".deleted" {
				continue // renamed, so its mtime is the segment's: checked below
			}
			fi, err := os.Stat(filepath.Join(partDir, f))
			if err == nil && !fi.ModTime().After(killedAt) {
				t.Errorf("round %d (step %s): %s, written before the kill (%v), is still there after the restart; dir: %v",
					round, step, f, fi.ModTime().Format(time.StampMicro), dirListing(partDir))
			}
		}

		// Read from the beginning to the high watermark.
		hw := endOffsets(t, n, topic, 1)[0]
		mu.Lock()
		if hw <= maxAcked {
			t.Errorf("round %d (step %s): high watermark %d after the restart, but offset %d was acknowledged", round, step, hw, maxAcked)
		}
		mu.Unlock()
		lastSeq, lastOff, count := readCompacted(t, n, topic, hw, round)
		mu.Lock()
		for k := range keys {
			s, ok := lastSeq[k]
			switch {
			case !ok && floorSeq[k] >= 0:
				t.Errorf("round %d (step %s): %s: nothing read, want value %d (offset %d)", round, step, keyName(k), floorSeq[k], floorOff[k])
			case !ok:
			case s < 0 || s >= len(keyOf) || keyOf[s] != k:
				t.Errorf("round %d (step %s): %s: read value %d, which was never produced to it", round, step, keyName(k), s)
			case s < floorSeq[k]:
				t.Errorf("round %d (step %s): %s: last value read %d at offset %d, want %d at offset %d (acknowledged or already served)",
					round, step, keyName(k), s, lastOff[k], floorSeq[k], floorOff[k])
			case s == floorSeq[k] && lastOff[k] != floorOff[k]:
				t.Errorf("round %d (step %s): %s: value %d read at offset %d, it was at offset %d", round, step, keyName(k), s, lastOff[k], floorOff[k])
			case s > floorSeq[k] && state[s] == stAcked:
				t.Errorf("round %d (step %s): %s: value %d read, later than the latest acknowledged %d", round, step, keyName(k), s, floorSeq[k])
			case s > floorSeq[k]:
				// Written but its acknowledgement cut off by the kill: it
				// is served now, so it must stay until overwritten.
				unackedServed++
				floorSeq[k], floorOff[k] = s, lastOff[k]
			}
		}
		mu.Unlock()
		if t.Failed() {
			t.Fatalf("round %d (step %s): files left by the kill %v; dir now: %v", round, step, leftovers, dirListing(partDir))
		}
		readers := "franz-go"
		if kcatErr == nil && (round%5 == 4 || round == len(schedule)-1) {
			checkKcat(t, kcat, n, topic, lastSeq, lastOff, round)
			readers += " and kcat"
		}

		// Nothing left of an interrupted pass: .deleted files (old
		// segments renamed) may belong to a pass the restart began, so
		// wait until the cleaner is idle; an orphan stays for good.
		for deadline := time.Now().Add(15 * time.Second); len(cleanerFiles(t, partDir)) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d (step %s): files of a cleaning pass still in %s 15s after the restart (left by the kill: %v): %v",
					round, step, partDir, leftovers, dirListing(partDir))
			}
		}
		t.Logf("round %2d %-9s stalled=%-5v acked %4d/%d, left by the kill %v, %s read %d records up to offset %d, %v",
			round, step, stalled, acked, perRound, bySuffix(leftovers), readers, count, hw-1, time.Since(roundStart).Round(time.Millisecond))
		n.Stop()
	}

	t.Logf("%d rounds in %v; stalls reached %v; swaps completed by recovery %d; files left by kills %v; unacknowledged values served %d",
		len(schedule), time.Since(start).Round(time.Millisecond), reached, swapsCompleted, filesAtRestart, unackedServed)
	for _, s := range steps {
		if reached[s] == 0 {
			t.Errorf("no round stalled a cleaning pass at %s: the kill never hit that step", s)
		}
	}
	if filesAtRestart[".swap"] == 0 || filesAtRestart[".cleaned"] == 0 || filesAtRestart[".deleted"] == 0 {
		t.Errorf("the kills never left a swap in progress (files by suffix %v)", filesAtRestart)
	}
}

// cleanerFiles lists the partition dir's files of a cleaning pass.
func cleanerFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		switch name := e.Name(); {
		case strings.HasSuffix(name, ".cleaned"), strings.HasSuffix(name, ".deleted"), strings.HasSuffix(name, ".swap"):
			out = append(out, name)
		}
	}
	return out
}

// bySuffix counts files by their last extension.
func bySuffix(files []string) map[string]int {
	m := map[string]int{}
	for _, f := range files {
		m[filepath.Ext(f)]++
	}
	return m
}

// dirListing is the dir's files with their sizes, for failure messages.
func dirListing(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			out = append(out, fmt.Sprintf("%s(%d)", e.Name(), fi.Size()))
		}
	}
	sort.Strings(out)
	return out
}

// parseSeq reads the seq at the front of a value "<seq>-r<round>-...".
func parseSeq(v []byte) int {
	i := bytes.IndexByte(v, '-')
	if i < 0 {
		return -1
	}
	s, err := strconv.Atoi(string(v[:i]))
	if err != nil {
		return -1
	}
	return s
}

// parseKey reads k from "key-<k>", -1 if it is not one.
func parseKey(b []byte) int {
	k, err := strconv.Atoi(strings.TrimPrefix(string(b), "key-"))
	if err != nil || !bytes.HasPrefix(b, []byte("key-")) {
		return -1
	}
	return k
}

// readCompacted reads the topic's partition 0 from the beginning up to hw
// with franz-go, failing on an offset that does not increase, and returns
// each key's last value (its seq) and offset, and how many records it read.
func readCompacted(t *testing.T, n *testkit.Node, topic string, hw int64, round int) (map[int]int, map[int]int64, int) {
	t.Helper()
	lastSeq, lastOff := map[int]int{}, map[int]int64{}
	count, last := 0, int64(-1)
	if hw == 0 {
		return lastSeq, lastOff, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for last < hw-1 {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("round %d: read up to offset %d of high watermark %d in 30s", round, last, hw)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("round %d: consume: %v", round, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Fatalf("round %d: offset %d served after %d", round, r.Offset, last)
			}
			last = r.Offset
			k := parseKey(r.Key)
			if k < 0 {
				t.Fatalf("round %d: offset %d: key %q", round, r.Offset, r.Key)
			}
			lastSeq[k], lastOff[k] = parseSeq(r.Value), r.Offset
			count++
		})
	}
	return lastSeq, lastOff, count
}

// checkKcat reads the topic with kcat and wants the same last value, at
// the same offset, for every key as franz-go read, offsets increasing.
func checkKcat(t *testing.T, kcat string, n *testkit.Node, topic string, lastSeq map[int]int, lastOff map[int]int64, round int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-b", n.Addr(), "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%k %s %o\n").Output()
	if err != nil {
		t.Fatalf("round %d: kcat: %v", round, err)
	}
	kSeq, kOff := map[int]int{}, map[int]int64{}
	prev := int64(-1)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var k, v string
		var o int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %s %d", &k, &v, &o); err != nil {
			t.Fatalf("round %d: kcat line %q: %v", round, sc.Text(), err)
		}
		if o <= prev {
			t.Fatalf("round %d: kcat: offset %d served after %d", round, o, prev)
		}
		prev = o
		key := parseKey([]byte(k))
		kSeq[key], kOff[key] = parseSeq([]byte(v)), o
	}
	for k, s := range lastSeq {
		if kSeq[k] != s || kOff[k] != lastOff[k] {
			t.Fatalf("round %d: kcat: key-%03d: last value %d at offset %d, franz-go read %d at offset %d", round, k, kSeq[k], kOff[k], s, lastOff[k])
		}
	}
	if len(kSeq) != len(lastSeq) {
		t.Fatalf("round %d: kcat read %d keys, franz-go %d", round, len(kSeq), len(lastSeq))
	}
}
