// Command consolebench measures the web console against a large cluster
// (issue 19): it starts the real ringtail binary, creates --topics topics
// of --partitions each, and runs two `ringtail console` processes against
// it: one sharing a read of the cluster's metadata across pages for 5 s
// (the default) and one reading it afresh for every page (the simpler
// alternative). It times each console's pages (the topic list's first
// page, a search, the last page, one topic, the overview) and measures
// produce throughput on the node quiet and while a client loads pages of
// either console, in alternating rounds. make bench-console runs it for
// 10,000 topics of 10 partitions and records the figures in
// benchmarks/results; its test runs it small.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/benchmarks/internal/localnode"
)

// Page is one console page's load times (the whole response read).
type Page struct {
	Console string  `json:"console"` // "shared" or "fresh"
	Path    string  `json:"path"`
	Loads   int     `json:"loads"`
	FirstMS float64 `json:"first_ms"` // the first load, before any caching in the client
	P50MS   float64 `json:"p50_ms"`
	P90MS   float64 `json:"p90_ms"`
	MaxMS   float64 `json:"max_ms"`
	Bytes   int     `json:"bytes"`
	// BrokerCPUMsPerLoad is the broker's utime+stime over the loads,
	// divided by them: what one load of the page costs the broker.
	BrokerCPUMsPerLoad float64 `json:"broker_cpu_ms_per_load"`
}

// Round is one produce run: quiet, or with pages of one console loading.
type Round struct {
	ConsoleLoad string  `json:"console_load"` // "", "shared" or "fresh"
	RecordsPerS float64 `json:"records_per_s"`
	P99MS       float64 `json:"p99_ms"`
	PageLoads   int64   `json:"page_loads"` // console pages served during the round
}

// Summary is what the run writes.
type Summary struct {
	Date               string  `json:"date"`
	Host               string  `json:"host"`
	Topics             int     `json:"topics"`
	PartitionsPerTopic int     `json:"partitions_per_topic"`
	CreateS            float64 `json:"create_s"`
	Pages              []Page  `json:"pages"`
	Rounds             []Round `json:"rounds"`
	// Medians of the produce rounds of each kind, and the loaded ones'
	// ratios to the quiet one.
	MedianQuiet        float64 `json:"median_records_per_s_quiet"`
	MedianShared       float64 `json:"median_records_per_s_shared_console_loaded"`
	MedianFresh        float64 `json:"median_records_per_s_fresh_console_loaded"`
	RatioSharedToQuiet float64 `json:"ratio_shared_to_quiet"`
	RatioFreshToQuiet  float64 `json:"ratio_fresh_to_quiet"`
	// PageIntervalMS is how often the loaded rounds started a page load
	// (0: back to back).
	PageIntervalMS int64 `json:"page_interval_ms"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "consolebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("consolebench", flag.ContinueOnError)
	bin := fs.String("ringtail", "", "the ringtail binary (default: build it from the repository)")
	topics := fs.Int("topics", 10000, "topics to create")
	parts := fs.Int("partitions", 10, "partitions of each topic")
	loads := fs.Int("loads", 20, "loads of each page")
	rounds := fs.Int("rounds", 3, "produce rounds of each kind (quiet, each console loaded), alternating")
	produceFor := fs.Duration("produce-for", 5*time.Second, "length of a produce round")
	interval := fs.Duration("page-interval", 200*time.Millisecond, "during a loaded round, start a console page load this often (0: back to back)")
	out := fs.String("out", "", "write the summary as JSON to this file")
	profile := fs.String("profile", "", "after the page loads, load this page of the shared console back to back for 10 s while the broker's CPU profile is taken (written to -profile-out)")
	profileOut := fs.String("profile-out", "consolebench-broker.pprof", "where -profile writes the broker's CPU profile")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := localnode.Prepare(ctx, "consolebench-", bin)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	node, err := localnode.StartWith(ctx, *bin, filepath.Join(work, "node"), localnode.Options{Ringtail: "max_open_files = 2048\n"})
	if err != nil {
		return err
	}
	defer node.Stop()
	host, _ := os.Hostname()
	sum := Summary{Date: time.Now().UTC().Format("2006-01-02"), Host: host, Topics: *topics, PartitionsPerTopic: *parts, PageIntervalMS: interval.Milliseconds()}

	t0 := time.Now()
	if err := createTopics(ctx, node.Addr, *topics, *parts); err != nil {
		return err
	}
	sum.CreateS = float64(time.Since(t0).Milliseconds()) / 1000
	fmt.Fprintf(stdout, "created %d topics of %d partitions in %.1f s\n", *topics, *parts, sum.CreateS)

	hc := &http.Client{Timeout: time.Minute}
	consoles := map[string]string{}
	for _, kind := range []string{"shared", "fresh"} {
		age := "5s"
		if kind == "fresh" {
			age = "0"
		}
		url, stop, err := startConsole(ctx, *bin, node.Addr, age, hc)
		if err != nil {
			return err
		}
		defer stop()
		consoles[kind] = url
	}
	last := (*topics + 49) / 50 // the console lists 50 topics a page
	for _, kind := range []string{"shared", "fresh"} {
		for _, path := range []string{"/topics", "/topics?q=topic-0999", fmt.Sprintf("/topics?page=%d", last), "/topics/topic-00000", "/"} {
			cpu0, err := localnode.CPUSeconds(node.PID())
			if err != nil {
				return err
			}
			p, err := timePage(ctx, hc, consoles[kind]+path, *loads)
			if err != nil {
				return err
			}
			cpu1, err := localnode.CPUSeconds(node.PID())
			if err != nil {
				return err
			}
			p.BrokerCPUMsPerLoad = float64(int((cpu1-cpu0)*1000/float64(*loads)*10)) / 10
			p.Console, p.Path = kind, path
			fmt.Fprintf(stdout, "%-6s %-24s first %7.1f ms  p50 %7.1f ms  p90 %7.1f ms  max %7.1f ms  (%d bytes)  broker CPU %6.1f ms a load\n",
				kind, path, p.FirstMS, p.P50MS, p.P90MS, p.MaxMS, p.Bytes, p.BrokerCPUMsPerLoad)
			sum.Pages = append(sum.Pages, p)
		}
	}

	if *profile != "" {
		if err := profilePage(ctx, node, hc, consoles["shared"]+*profile, *profileOut); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "broker CPU profile while %s loaded back to back: %s\n", *profile, *profileOut)
	}

	by := map[string][]float64{}
	kinds := []string{"", "shared", "fresh"}
	for i := 0; i < len(kinds)**rounds; i++ {
		kind := kinds[i%len(kinds)]
		r, err := produceRound(ctx, node, *bin, hc, consoles[kind], kind, *produceFor, *interval)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "produce round %d (console loaded: %q): %.0f records/s, p99 %.1f ms, %d console pages served\n", i+1, r.ConsoleLoad, r.RecordsPerS, r.P99MS, r.PageLoads)
		sum.Rounds = append(sum.Rounds, r)
		by[kind] = append(by[kind], r.RecordsPerS)
	}
	sum.MedianQuiet, sum.MedianShared, sum.MedianFresh = localnode.Median(by[""]), localnode.Median(by["shared"]), localnode.Median(by["fresh"])
	if sum.MedianQuiet > 0 {
		sum.RatioSharedToQuiet = float64(int(sum.MedianShared/sum.MedianQuiet*1000)) / 1000
		sum.RatioFreshToQuiet = float64(int(sum.MedianFresh/sum.MedianQuiet*1000)) / 1000
	}
	fmt.Fprintf(stdout, "produce medians: quiet %.0f records/s; pages of the shared-metadata console loading %.0f (ratio %.3f); of the fresh-metadata one %.0f (ratio %.3f)\n",
		sum.MedianQuiet, sum.MedianShared, sum.RatioSharedToQuiet, sum.MedianFresh, sum.RatioFreshToQuiet)
	if *out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	return nil
}

// profilePage loads url back to back while the broker's admin port takes
// a 10 s CPU profile, written to out: where the broker's time goes while
// a console page loads.
func profilePage(ctx context.Context, node *localnode.Node, hc *http.Client, url, out string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	loads := 0
	before := requestCounts(node)
	go func() {
		defer close(done)
		for i := 0; i < 10_000 && ctx.Err() == nil; i++ { // bounded; ended by cancel
			if _, err := get(ctx, hc, url); err == nil {
				loads++
			}
		}
	}()
	resp, err := hc.Get("http://" + node.AdminAddr + "/debug/pprof/profile?seconds=10")
	cancel()
	<-done
	if err != nil {
		return err
	}
	after := requestCounts(node)
	var apis []string
	for api, n := range after {
		if d := n - before[api]; d > 0 {
			apis = append(apis, fmt.Sprintf("%s %d", api, int(d)))
		}
	}
	sort.Strings(apis)
	fmt.Printf("%d loads of %s in 10 s; the broker answered %s\n", loads, url, strings.Join(apis, ", "))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("broker CPU profile: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// requestCounts reads the node's Kafka requests answered by API; empty on
// an error.
func requestCounts(node *localnode.Node) map[string]float64 {
	out := map[string]float64{}
	text, err := node.Metrics()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, `ringtail_kafka_requests_total{api="`)
		if !ok {
			continue
		}
		api, num, ok := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(num, 64); ok && err == nil {
			out[api] = v
		}
	}
	return out
}

// startConsole runs `ringtail console` against addr with
// --metadata-max-age age and waits until it serves; stop ends it.
func startConsole(ctx context.Context, bin, addr, age string, hc *http.Client) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "console", "--bootstrap", addr, "--listen", listen, "--metadata-max-age", age)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }
	url := "http://" + listen
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := get(ctx, hc, url+"/static/favicon.svg"); err == nil {
			return url, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("ringtail console on %s did not serve in 30 s", listen)
		}
	}
}

// createTopics creates topic-00000… in CreateTopics requests of at most
// 5,000 partitions and waits until the metadata lists them all.
func createTopics(ctx context.Context, addr string, topics, parts int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(2*time.Minute))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(120_000)
	per := max(1, 5000/parts)
	for lo := 0; lo < topics; lo += per {
		names := make([]string, 0, per)
		for i := lo; i < min(lo+per, topics); i++ {
			names = append(names, topicName(i))
		}
		rs, err := adm.CreateTopics(ctx, int32(parts), 1, nil, names...)
		if err != nil {
			return fmt.Errorf("create topics %s…: %w", names[0], err)
		}
		for _, r := range rs.Sorted() {
			if r.Err != nil {
				return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		ts, err := adm.ListTopics(ctx)
		if err == nil && len(ts) >= topics {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("metadata lists %d of %d topics after 5 minutes (%v)", len(ts), topics, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func topicName(i int) string { return fmt.Sprintf("topic-%05d", i) }

// timePage loads url n times, one after another.
func timePage(ctx context.Context, hc *http.Client, url string, n int) (Page, error) {
	var ms []float64
	p := Page{Loads: n}
	for i := 0; i < n; i++ {
		t0 := time.Now()
		size, err := get(ctx, hc, url)
		if err != nil {
			return p, err
		}
		d := float64(time.Since(t0).Microseconds()) / 1000
		if i == 0 {
			p.FirstMS = d
		}
		ms = append(ms, d)
		p.Bytes = size
	}
	sort.Float64s(ms)
	p.P50MS, p.P90MS, p.MaxMS = ms[len(ms)/2], ms[len(ms)*9/10], ms[len(ms)-1]
	return p, nil
}

func get(ctx context.Context, hc *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return int(n), nil
}

// produceRound runs `ringtail bench produce` for d into a topic of its own;
// with load, one client meanwhile loads the topic list and the overview, a
// page every interval (several operators with pages open), or back to back.
func produceRound(ctx context.Context, node *localnode.Node, bin string, hc *http.Client, console string, kind string, d, interval time.Duration) (Round, error) {
	r := Round{ConsoleLoad: kind}
	load := kind != ""
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var served atomic.Int64
	var loadErr error
	if load {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pages := []string{"/topics", "/", "/topics?page=2"}
			// Bounded by the round: stop is called when the produce ends.
			for i := 0; lctx.Err() == nil; i++ {
				if _, err := get(lctx, hc, console+pages[i%len(pages)]); err != nil {
					if lctx.Err() == nil {
						loadErr = err
					}
					return
				}
				served.Add(1)
				if interval > 0 {
					select {
					case <-lctx.Done():
					case <-time.After(interval):
					}
				}
			}
		}()
	}
	res, err := node.BenchProduce(ctx, bin, "--topic", "consolebench-produce", "--duration", d.String(), "--record-size", "512", "--partitions", "3")
	stop()
	wg.Wait()
	if err != nil {
		return r, err
	}
	if loadErr != nil {
		return r, fmt.Errorf("console load: %w", loadErr)
	}
	if res.Errors > 0 {
		return r, fmt.Errorf("produce round: %d errors", res.Errors)
	}
	r.RecordsPerS, r.P99MS, r.PageLoads = res.RecordsPerS, res.Latency.P99, served.Load()
	return r, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
