//go:build !ringtail_unlimited

package kafka

// unlimited turns off the connection limits of limits.go (in-flight count
// and bytes, one Fetch at a time, queued.max.request.bytes): only in a
// binary built with -tags ringtail_unlimited, the broken variant that the
// e2e limits tests must catch (e2e/limits_test.go).
const unlimited = false
