package replication

import (
	"sync"
)

// Publisher publishes the high watermarks of many LeaderReplicas on a
// fixed number of goroutines, so that a node leading 100,000 replicated
// partitions runs a handful of publisher goroutines, not one per
// partition. A LeaderReplica whose high watermark moved (or that holds
// answers for a publish) is queued once until a worker takes it; the
// worker publishes the latest high watermark then.
type Publisher struct {
	mu     sync.Mutex
	queue  []*LeaderReplica
	notify chan struct{} // a token: the queue may be non-empty
	stopc  chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// NewPublisher starts workers goroutines (at least 1).
func NewPublisher(workers int) *Publisher {
	p := &Publisher{notify: make(chan struct{}, 1), stopc: make(chan struct{})}
	for range max(workers, 1) {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// Close stops the workers once they finish the publish in hand; queued
// replicas are dropped (their leaders are closing too).
func (p *Publisher) Close() {
	p.once.Do(func() { close(p.stopc) })
	p.wg.Wait()
}

func (p *Publisher) schedule(lr *LeaderReplica) {
	p.mu.Lock()
	p.queue = append(p.queue, lr)
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *Publisher) pop() *LeaderReplica {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil
	}
	lr := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if len(p.queue) > 0 {
		// More work: pass the token on to another worker.
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
	return lr
}

func (p *Publisher) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stopc:
			return
		default:
		}
		lr := p.pop()
		if lr == nil {
			select {
			case <-p.stopc:
				return
			case <-p.notify:
			}
			continue
		}
		lr.queued.Store(false)
		lr.publishOnce()
	}
}
