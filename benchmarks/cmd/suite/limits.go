package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ringtail/ringtail/benchmarks/report"
)

// fioBlockSizes are the write sizes measured: the range a group commit
// writes per file, from a lone small batch to a full drain.
var fioBlockSizes = []int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

// limits measures the disk (fio: sequential writes, fdatasync after each)
// and loopback TCP (iperf3), installing both with apt-get when missing.
func (s *suite) limits(ctx context.Context) error {
	if err := s.ensureTools(ctx); err != nil {
		s.limitNote("fio/iperf3 not installed, limits not measured: %v", err)
		return nil
	}
	dir := filepath.Join(s.dataRoot, "fio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, bs := range fioBlockSizes {
		fw, err := s.fio(ctx, dir, bs)
		if err != nil {
			s.limitNote("fio bs=%d: %v", bs, err)
			continue
		}
		s.res.Limits.Fio = append(s.res.Limits.Fio, fw)
		s.progress("fio write+fdatasync bs=%-7d %8.1f MiB/s %9.0f IOPS, fdatasync p50 %.3f p99 %.3f p99.9 %.3f ms",
			bs, fw.MBPerS, fw.IOPS, fw.Latency.P50, fw.Latency.P99, fw.Latency.P999)
	}
	gbps, err := s.iperf(ctx)
	if err != nil {
		s.limitNote("iperf3: %v", err)
	} else {
		s.res.Limits.IperfGbps = gbps
		s.progress("iperf3 loopback: %.2f Gbit/s", gbps)
	}
	return nil
}

func (s *suite) limitNote(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.progress("NOTE: %s", msg)
	if len(msg) > 400 {
		msg = msg[:400] + "..."
	}
	s.res.Limits.Notes = append(s.res.Limits.Notes, msg)
}

func (s *suite) ensureTools(ctx context.Context) error {
	_, e1 := exec.LookPath("fio")
	_, e2 := exec.LookPath("iperf3")
	if e1 == nil && e2 == nil {
		return nil
	}
	s.progress("installing fio and iperf3 with apt-get")
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	install := []string{"install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", "fio", "iperf3"}
	if _, _, err := runCmd(ctx, 6*time.Minute, s.repo, env, "apt-get", install...); err != nil {
		if _, _, uerr := runCmd(ctx, 6*time.Minute, s.repo, env, "apt-get", "update", "-q"); uerr != nil {
			return uerr
		}
		if _, _, err := runCmd(ctx, 6*time.Minute, s.repo, env, "apt-get", install...); err != nil {
			return err
		}
	}
	return nil
}

// fioJob is the part of fio's JSON output the suite reads.
type fioJob struct {
	Write struct {
		BWBytes float64 `json:"bw_bytes"`
		IOPS    float64 `json:"iops"`
	} `json:"write"`
	Sync struct {
		LatNs struct {
			Max        float64            `json:"max"`
			Percentile map[string]float64 `json:"percentile"`
		} `json:"lat_ns"`
	} `json:"sync"`
}

// fio runs one sequential write of bs-byte writes with an fdatasync after
// each (buffered, like the broker's appends) for the configured runtime.
func (s *suite) fio(ctx context.Context, dir string, bs int) (report.FioWrite, error) {
	fw := report.FioWrite{BlockBytes: bs}
	out := filepath.Join(dir, fmt.Sprintf("fio-%d.json", bs))
	secs := int(math.Max(1, math.Round(s.p.fioRuntime.Seconds())))
	// The file grows as the broker's segments do: no preallocation, and
	// big enough (--size) that a run never wraps round to overwrite it.
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fw, err
	}
	defer os.RemoveAll(data)
	args := []string{
		"--name=seqwrite-fdatasync", "--directory=" + data, "--rw=write", "--fallocate=none",
		"--bs=" + strconv.Itoa(bs), "--size=16g", "--ioengine=psync", "--direct=0", "--fdatasync=1",
		"--time_based", "--runtime=" + strconv.Itoa(secs), "--output-format=json", "--output=" + out,
	}
	if _, _, err := runCmd(ctx, time.Duration(secs)*time.Second+2*time.Minute, dir, nil, "fio", args...); err != nil {
		return fw, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return fw, err
	}
	var res struct {
		Jobs []fioJob `json:"jobs"`
	}
	if i := indexByte(b, '{'); i > 0 {
		b = b[i:] // fio may put warnings before the JSON
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fw, fmt.Errorf("fio output: %w", err)
	}
	if len(res.Jobs) == 0 {
		return fw, fmt.Errorf("fio output has no jobs")
	}
	j := res.Jobs[0]
	pct := func(k string) float64 { return round3(j.Sync.LatNs.Percentile[k] / 1e6) }
	fw.MBPerS = round1(j.Write.BWBytes / (1 << 20))
	fw.IOPS = round1(j.Write.IOPS)
	fw.Latency = report.Latency{P50: pct("50.000000"), P99: pct("99.000000"), P999: pct("99.900000"), Max: round3(j.Sync.LatNs.Max / 1e6)}
	if fw.Latency.P50 == 0 {
		return fw, fmt.Errorf("fio reported no fdatasync latencies")
	}
	return fw, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// iperf measures loopback TCP throughput: one server for one test, one
// client.
func (s *suite) iperf(ctx context.Context) (float64, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	// Pinned as workloads a-d are (server where the brokers run, client
	// where the load runs), so c-iperf and c-raw-iperf compare like with like.
	srv, srvArgs := s.pin.wrap(s.pin.broker, "iperf3", []string{"-s", "-1", "--forceflush", "-B", "127.0.0.1", "-p", strconv.Itoa(port)})
	cl, clArgs := s.pin.wrap(s.pin.load, "iperf3", []string{"-c", "127.0.0.1", "-p", strconv.Itoa(port), "-t", strconv.Itoa(s.p.iperfSecs), "-J"})
	p, err := s.reg.start("iperf3 server", filepath.Join(s.dataRoot, "iperf3-server.log"), nil, srv, srvArgs...)
	if err != nil {
		return 0, err
	}
	defer s.reg.stop(p, 5*time.Second)
	if err := waitLog(ctx, p, "Server listening", 30*time.Second); err != nil {
		return 0, err
	}
	out, _, err := runCmd(ctx, time.Duration(s.p.iperfSecs)*time.Second+time.Minute, s.dataRoot, nil, cl, clArgs...)
	if err != nil {
		return 0, err
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w", err)
	}
	if res.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", res.Error)
	}
	if res.End.SumReceived.BitsPerSecond <= 0 {
		return 0, fmt.Errorf("iperf3 reported no throughput")
	}
	return round3(res.End.SumReceived.BitsPerSecond / 1e9), nil
}

// fsyncLatency sets Limits.FsyncLatencyMs from the fio size closest (on a
// log scale) to workload a's average bytes per fdatasync.
func (s *suite) fsyncLatency() {
	if len(s.res.Limits.Fio) == 0 {
		return
	}
	avg := 0.0
	for _, sm := range s.res.Summaries {
		if sm.Workload == "a" && sm.Variant == "ringtail" {
			avg = sm.Extra["avg_write_bytes"]
		}
	}
	if avg <= 0 {
		avg = 64 << 10
		s.limitNote("no average group-commit write from workload a; fsync latency taken at 64 KiB")
	}
	best := s.res.Limits.Fio[0]
	for _, f := range s.res.Limits.Fio {
		if math.Abs(math.Log(float64(f.BlockBytes)/avg)) < math.Abs(math.Log(float64(best.BlockBytes)/avg)) {
			best = f
		}
	}
	l := best.Latency
	s.res.Limits.FsyncLatencyMs = &l
	s.limitNote("fsync latency: fio's fdatasync latency at bs=%d, the size closest to workload a's average %.0f bytes per fdatasync", best.BlockBytes, avg)
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
