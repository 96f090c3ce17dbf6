// Package e2e holds the end-to-end tests: each starts the real ringtail
// binary (through testkit) and drives it with real Kafka clients — franz-go,
// sarama, kcat and ringtail's own CLI — over loopback sockets.
package e2e
