package kafka

// What a Fetch long poll waits on per partition. A consumer reads up to
// the high watermark, so its fetch waits on Log.Changed (high-watermark
// advances). A follower reads up to the log end, so its fetch waits on
// FollowerChanged where the Log has it: the leader's append wakes the
// follower at once, and an acks=all produce waits for no poll interval
// (Kafka completes a follower's DelayedFetch on the leader's append the
// same way).

// FollowerWaker is a ReplicatedLog whose replica fetches wait on log-end
// advances.
type FollowerWaker interface {
	// FollowerChanged is closed on the next log-end advance (or when
	// this node stops leading the partition). Take it before reading.
	FollowerChanged() <-chan struct{}
}

// fetchWake is the channel a fetch by replica (-1 and below: a consumer)
// waits on for l.
func fetchWake(l Log, replica int32) <-chan struct{} {
	if fw, ok := l.(FollowerWaker); ok && replica >= 0 {
		return fw.FollowerChanged()
	}
	return l.Changed()
}
