// Command tlsfetchbench measures what TLS costs a consumer (issue 14): one
// node with a PLAINTEXT and an SSL listener holds a topic of --size MiB,
// and a franz-go consumer reads all of it from the start, page cache
// warm, over plaintext with sendfile, over plaintext copying
// (ringtail.fetch_sendfile=false) and over TLS (which always copies: Go's
// crypto/tls has no kTLS), alternating, and reports the median MiB/s of
// each. The kernel's kTLS support is reported as found
// (/proc/sys/net/ipv4/tcp_available_ulp).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/benchmarks/internal/localnode"
)

// Run is one full read of the topic.
type Run struct {
	Variant string  `json:"variant"`
	MiBPerS float64 `json:"mib_per_s"`
	Records int64   `json:"records"`
}

// Variant is the median of one way of reading.
type Variant struct {
	Variant string  `json:"variant"`
	MiBPerS float64 `json:"median_mib_per_s"`
	Ratio   float64 `json:"vs_plaintext_sendfile"`
}

// Summary is every run and the medians.
type Summary struct {
	Date     string    `json:"date"`
	Host     string    `json:"host"`
	Load     string    `json:"load"`
	KTLS     string    `json:"ktls"`
	Runs     []Run     `json:"runs"`
	Variants []Variant `json:"variants"`
}

const (
	plainSendfile = "plaintext-sendfile"
	plainCopy     = "plaintext-copy"
	tlsCopy       = "tls-copy"
	topic         = "bench-tls-fetch"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tlsfetchbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tlsfetchbench", flag.ContinueOnError)
	bin := fs.String("ringtail", "", "the ringtail binary (default: build it from the repository)")
	runs := fs.Int("runs", 3, "reads of each variant, alternating")
	sizeMiB := fs.Int("size", 512, "MiB of records in the topic")
	recSize := fs.Int("record-size", 1024, "value bytes per record")
	out := fs.String("out", "", "write the summary as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := localnode.Prepare(ctx, "tlsfetchbench-", bin)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ks, ts, ca, err := writeCerts(work)
	if err != nil {
		return err
	}
	dir := filepath.Join(work, "node")
	count := int64(*sizeMiB) << 20 / int64(*recSize)
	host, _ := os.Hostname()
	sum := Summary{Date: time.Now().UTC().Format("2006-01-02"), Host: host, KTLS: ktls(),
		Load: fmt.Sprintf("%d records of %d B in 4 partitions (bench produce acks=1), read from offset 0 by one franz-go consumer, page cache warm", count, *recSize)}

	node, err := localnode.StartWith(ctx, *bin, dir, localnode.Options{Keystore: ks, Truststore: ts})
	if err != nil {
		return err
	}
	if _, err := node.BenchProduce(ctx, *bin, "--topic", topic, "--partitions", "4", "--record-size", strconv.Itoa(*recSize),
		"--acks", "1", "--count", strconv.FormatInt(count, 10)); err != nil {
		node.Stop()
		return err
	}
	node.Stop()
	for i := 0; i < *runs; i++ {
		for _, v := range []string{plainSendfile, tlsCopy, plainCopy} {
			r, err := once(ctx, *bin, dir, v, ks, ts, ca, count)
			if err != nil {
				return fmt.Errorf("run %d (%s): %w", i+1, v, err)
			}
			fmt.Fprintf(stdout, "run %d %-19s %8.1f MiB/s (%d records)\n", i+1, v, r.MiBPerS, r.Records)
			sum.Runs = append(sum.Runs, r)
		}
	}
	var base float64
	for _, v := range []string{plainSendfile, tlsCopy, plainCopy} {
		var xs []float64
		for _, r := range sum.Runs {
			if r.Variant == v {
				xs = append(xs, r.MiBPerS)
			}
		}
		vr := Variant{Variant: v, MiBPerS: localnode.Median(xs)}
		if v == plainSendfile {
			base = vr.MiBPerS
		}
		if base > 0 {
			vr.Ratio = vr.MiBPerS / base
		}
		sum.Variants = append(sum.Variants, vr)
		fmt.Fprintf(stdout, "median %-19s %8.1f MiB/s (%.2f of plaintext with sendfile)\n", v, vr.MiBPerS, vr.Ratio)
	}
	fmt.Fprintf(stdout, "kTLS: %s\n", sum.KTLS)
	if *out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	return nil
}

// once restarts the node for variant v and reads the whole topic.
func once(ctx context.Context, bin, dir, v, ks, ts string, ca *x509.CertPool, count int64) (Run, error) {
	o := localnode.Options{Keystore: ks, Truststore: ts}
	if v == plainCopy {
		o.Ringtail = "fetch_sendfile = false"
	}
	node, err := localnode.StartWith(ctx, bin, dir, o)
	if err != nil {
		return Run{}, err
	}
	defer node.Stop()
	opts := []kgo.Opt{kgo.SeedBrokers(node.Addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64 << 20), kgo.FetchMaxPartitionBytes(16 << 20)}
	if v == tlsCopy {
		opts[0] = kgo.SeedBrokers(node.SSLAddr)
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: ca, ServerName: "127.0.0.1"}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Run{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var recs, bytes int64
	start := time.Now()
	for recs < count {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Run{}, fmt.Errorf("read %d of %d records: %w", recs, count, err)
		}
		for _, e := range fs.Errors() {
			return Run{}, fmt.Errorf("fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs++
			bytes += int64(len(r.Value) + len(r.Key))
		})
	}
	el := time.Since(start).Seconds()
	return Run{Variant: v, MiBPerS: float64(bytes) / (1 << 20) / el, Records: recs}, nil
}

// ktls says whether the kernel offers the tls upper-layer protocol.
func ktls() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_ulp")
	if err != nil {
		return "unknown: " + err.Error()
	}
	ulps := strings.TrimSpace(string(b))
	for _, u := range strings.Fields(ulps) {
		if u == "tls" {
			return "offered (tcp_available_ulp: " + ulps + "); Ringtail does not use it yet"
		}
	}
	return "not offered by this kernel (tcp_available_ulp: " + ulps + ")"
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and writes
// the keystore (key and chain) and truststore PEM files.
func writeCerts(dir string) (keystore, truststore string, pool *x509.CertPool, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsfetchbench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	ks := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	keystore, truststore = filepath.Join(dir, "server.pem"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(keystore, ks, 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(truststore, caPEM, 0o644); err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return keystore, truststore, pool, nil
}
