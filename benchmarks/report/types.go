// Package report turns one benchmark-suite run (results.json) into the
// markdown table, with each target next to its figure, and the PNG plots
// under benchmarks/results/<date>-<host>/.
package report

import "time"

// Results is everything one `make bench-suite` run measured. The suite
// writes it as results.json; report.Write renders it.
type Results struct {
	Date      string    `json:"date"` // 2026-11-23
	Host      string    `json:"host"`
	Started   time.Time `json:"started"`
	DurationS float64   `json:"duration_s"`
	Smoke     bool      `json:"smoke"` // a seconds-long check of the tool, not figures
	Machine   Machine   `json:"machine"`
	Limits    Limits    `json:"limits"`
	// Runs holds every single measured run; Summaries their medians.
	Runs      []Run     `json:"runs"`
	Summaries []Summary `json:"summaries"`
	// Comparisons are the side-by-side speed mechanisms.
	Comparisons []Comparison `json:"comparisons"`
	Targets     []Target     `json:"targets"`
	Micro       []Micro      `json:"micro"`
	// Profiles are paths relative to the results folder.
	Profiles []string `json:"profiles"`
	Notes    []string `json:"notes"`
}

// Machine describes the host the run measured.
type Machine struct {
	CPUs            int     `json:"cpus"`
	CPUModel        string  `json:"cpu_model"`
	MemGiB          float64 `json:"mem_gib"`
	Kernel          string  `json:"kernel"`
	FileSystem      string  `json:"file_system"` // of the data directory
	Device          string  `json:"device"`
	GoVersion       string  `json:"go_version"`
	RingtailVersion string  `json:"ringtail_version"`
	IOEngine        string  `json:"io_engine"` // what the default broker ran with
	Shards          int     `json:"shards"`
	// Pinning says which CPUs brokers and the load generator ran on.
	Pinning string `json:"pinning,omitempty"`
}

// Limits are the machine's own figures, measured in the same run.
type Limits struct {
	// Fio: sequential writes with an fdatasync after each write, one entry
	// per write size (the sizes Ringtail's group commits write).
	Fio []FioWrite `json:"fio"`
	// FsyncLatencyMs: fio's fdatasync latency percentiles, at the size of
	// workload (a)'s typical group commit.
	FsyncLatencyMs *Latency `json:"fsync_latency_ms,omitempty"`
	// IperfGbps: iperf3 TCP throughput over loopback, gigabits/s.
	IperfGbps float64  `json:"iperf_gbps"`
	Notes     []string `json:"notes,omitempty"`
}

// FioWrite is one fio sequential-write-with-fdatasync run.
type FioWrite struct {
	BlockBytes int     `json:"block_bytes"`
	MBPerS     float64 `json:"mb_per_s"` // MiB/s
	IOPS       float64 `json:"iops"`
	Latency    Latency `json:"sync_latency_ms"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Run is one measured run of one workload variant.
type Run struct {
	Workload string `json:"workload"` // "a" .. "f"
	// Variant names the side: "ringtail", "kfake", "sync-engine",
	// "one-shard", "per-request-fsync", "read-write-fetch", "warm", "cold",
	// "partitions-8", "partitions-1000", "partitions-10000", ...
	Variant     string   `json:"variant"`
	Rep         int      `json:"rep"`
	Records     int64    `json:"records"`
	Bytes       int64    `json:"bytes"`
	ElapsedS    float64  `json:"elapsed_s"`
	RecordsPerS float64  `json:"records_per_s"`
	MBPerS      float64  `json:"mb_per_s"`
	Latency     *Latency `json:"latency_ms,omitempty"`
	Errors      int64    `json:"errors"`
	// RSSMiB is the broker's resident memory after the run, when known.
	RSSMiB float64 `json:"rss_mib,omitempty"`
	// Extra holds anything else worth keeping (fsyncs, partitions,
	// start-up seconds, ...).
	Extra map[string]float64 `json:"extra,omitempty"`
}

// Summary is the medians of one workload variant's runs.
type Summary struct {
	Workload    string             `json:"workload"`
	Variant     string             `json:"variant"`
	Description string             `json:"description"`
	Runs        int                `json:"runs"`
	RecordsPerS float64            `json:"records_per_s"`
	MBPerS      float64            `json:"mb_per_s"`
	Latency     *Latency           `json:"latency_ms,omitempty"` // median of each percentile
	RSSMiB      float64            `json:"rss_mib,omitempty"`
	Partitions  int                `json:"partitions,omitempty"`
	Extra       map[string]float64 `json:"extra,omitempty"`
}

// Comparison is one speed mechanism against its simpler alternative,
// measured in the same run on the same workload.
type Comparison struct {
	Mechanism   string  `json:"mechanism"` // "io_uring vs sync engine"
	Workload    string  `json:"workload"`
	With        string  `json:"with"`    // variant name
	Without     string  `json:"without"` // variant name
	WithMBps    float64 `json:"with_mb_per_s"`
	WithoutMBps float64 `json:"without_mb_per_s"`
	Ratio       float64 `json:"ratio"` // with / without
	Wins        bool    `json:"wins"`
	Note        string  `json:"note,omitempty"`
}

// Target is one of issue 5's targets next to what the run measured.
type Target struct {
	ID          string `json:"id"` // "a-fio", "a-kfake", "b-kfake", "c-kfake", "c-iperf", "d-p99", "d-p999", "e-1000", "e-10000"
	Description string `json:"description"`
	Target      string `json:"target"`   // "≥ 80% of fio (412 MiB/s)"
	Measured    string `json:"measured"` // "301 MiB/s (73%)"
	Met         bool   `json:"met"`
	// Note says why a missed target was missed and what would close it.
	Note string `json:"note,omitempty"`
}

// Micro is one `go test -bench` result.
type Micro struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}
