// Command kfake-server runs franz-go's in-memory fake Kafka cluster
// (github.com/twmb/franz-go/pkg/kfake) as a plain one-broker server, so
// the benchmark suite can point the same load generator at it as at
// Ringtail.
//
//	kfake-server --listen 127.0.0.1:9092
//
// Once the broker accepts connections it prints one line,
// "kfake listening on HOST:PORT", to stdout. It runs until SIGTERM or
// SIGINT, then closes the cluster and exits 0.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("kfake-server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9092", "host:port for the one broker to listen on (port 0 picks a free one)")
	partitions := fs.Int("default-partitions", 0, "partitions of auto-created topics (0: kfake's default); auto-creation is on only when this is > 0")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "kfake-server: unexpected arguments %q\n", fs.Args())
		return 2
	}
	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake-server: --listen %q: %v\n", *listen, err)
		return 2
	}
	var port int
	if _, err := fmt.Sscanf(portStr, "%d", &port); err != nil || port < 0 || port > 65535 {
		fmt.Fprintf(os.Stderr, "kfake-server: --listen %q: bad port\n", *listen)
		return 2
	}

	// kfake always listens on 127.0.0.1:PORT; the ListenFn keeps the
	// port it asks for but honours the host given here.
	listenFn := func(network, address string) (net.Listener, error) {
		_, p, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		return net.Listen(network, net.JoinHostPort(host, p))
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(listenFn),
	}
	if *partitions > 0 {
		opts = append(opts, kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(*partitions))
	}

	// Register for signals before announcing readiness so a SIGTERM sent
	// right after the line is seen is not lost.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake-server: start: %v\n", err)
		return 1
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		fmt.Fprintf(os.Stderr, "kfake-server: expected one broker, got %v\n", addrs)
		return 1
	}
	fmt.Printf("kfake listening on %s\n", addrs[0])

	sig := <-sigs
	fmt.Fprintf(os.Stderr, "kfake-server: %v, shutting down\n", sig)
	c.Close()
	return 0
}
