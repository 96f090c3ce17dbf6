//go:build ringtail_unlimited

package kafka

// unlimited: see limits_on.go. This build has no connection limits; it is
// for showing that e2e/limits_test.go fails without them.
const unlimited = true
