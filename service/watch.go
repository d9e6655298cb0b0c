package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// A watch reads the history from the store, never from the writers: each
// watcher pulls the events after its cursor, sends them, and waits to be
// woken when more are committed. So a writer only wakes (it never waits on
// a watcher), a watcher holds no more than one batch in memory, and a slow
// watcher is cut off by its own send timeout.

// commitSignal wakes every watcher when events are committed.
type commitSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next commit.
func (c *commitSignal) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// wake wakes the watchers waiting; it never blocks.
func (c *commitSignal) wake() {
	c.mu.Lock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
	c.mu.Unlock()
}

// commit is store.Backend.Write, and wakes the watchers after a commit.
// Every write of the service goes through it.
func (s *Server) commit(ctx context.Context, req store.Request, decide store.Decision) (proto.Message, error) {
	res, err := s.store.Write(ctx, req, decide)
	if err == nil {
		s.commits.wake()
	}
	return res, err
}

const (
	defaultHeartbeat = 15 * time.Second
	// watchBatch is how many events a watcher reads at a time.
	watchBatch = 200
	// watchBackstop is how often a watcher looks for events without being
	// woken: a write outside Server.write (a standby applying its
	// primary's events) is seen within it.
	watchBackstop = time.Second
)

// WatchAdmittedHeader is the header a watch sends once it is admitted.
const WatchAdmittedHeader = "banli-watch-admitted"

// WatchEvents sends the events the caller may read as they are committed.
func (s *Server) WatchEvents(req *banliv1.WatchEventsRequest, stream grpc.ServerStreamingServer[banliv1.WatchEventsResponse]) error {
	v := &violations{}
	f := validEventFilter(v, "", req.GetActions(), req.GetSession(), req.GetUnit(), req.GetProposal())
	if n := req.GetHeartbeatSeconds(); n < 0 || n > 300 {
		v.add("heartbeat_seconds", "must be from 0 to %d", 300)
	}
	if err := v.err(); err != nil {
		return err
	}
	// The headers say the watch is admitted: a REST client gets its HTTP
	// answer now, not at the first event (gateway.Watches). They carry a
	// mark, since a refused call may send headers too (its traceparent).
	if err := stream.SendHeader(metadata.Pairs(WatchAdmittedHeader, "true")); err != nil {
		return err
	}
	heartbeat := defaultHeartbeat
	if n := req.GetHeartbeatSeconds(); n > 0 {
		heartbeat = time.Duration(n) * time.Second
	}
	ctx := stream.Context()
	c, _ := CallerFrom(ctx)
	send := func(m *banliv1.WatchEventsResponse) error {
		return sendWithin(ctx, s.sendTimeout, func() error { return stream.Send(m) })
	}
	after := req.GetAfterSequence()
	sent, lastSent := after, time.Now()
	for {
		woken := s.commits.wait() // before reading, so that no commit goes unnoticed
		var events []*banliv1.Event
		var latest uint64
		err := s.store.View(func(r store.Reader) error {
			var err error
			if latest, err = r.LatestEvent(); err != nil {
				return err
			}
			events, after, err = s.scopedEvents(r, c, f, after, watchBatch)
			return err
		})
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := send(&banliv1.WatchEventsResponse{Kind: &banliv1.WatchEventsResponse_Event{Event: ev}}); err != nil {
				return tooSlow(err, sent)
			}
			sent, lastSent = ev.GetSequence(), time.Now()
		}
		if after < latest {
			continue // more to read at once
		}
		if time.Since(lastSent) >= heartbeat {
			hb := &banliv1.Heartbeat{Time: timestamppb.New(s.now()), LatestSequence: latest, WatchedSequence: after}
			if err := send(&banliv1.WatchEventsResponse{Kind: &banliv1.WatchEventsResponse_Heartbeat{Heartbeat: hb}}); err != nil {
				return tooSlow(err, sent)
			}
			lastSent = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-woken:
		case <-time.After(min(watchBackstop, time.Until(lastSent.Add(heartbeat)))):
		}
	}
}

// tooSlow is a watch's end when its watcher stopped reading: where to
// resume, beside the reason.
func tooSlow(err error, sent uint64) error {
	if errors.Is(err, ErrSlowReader) {
		return &watcherBehind{resumeAfter: sent, err: err}
	}
	return err
}

// watcherBehind: a watcher left its events unread for the send timeout.
type watcherBehind struct {
	resumeAfter uint64
	err         error
}

func (w *watcherBehind) Error() string {
	return fmt.Sprintf("the watch was cut off: %v; resume with after_sequence %d", w.err, w.resumeAfter)
}

func (w *watcherBehind) Unwrap() error { return w.err }
