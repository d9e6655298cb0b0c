package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// A standby follows a primary by reading its global event stream and
// applying each event: the snapshot it carries becomes the record, the
// event is stored whole at the same sequence, and the indexes and
// statistics follow as they do for any write. It refuses writes of its own
// until it is promoted.

const (
	followBatch    = 1000
	followIdle     = 100 * time.Millisecond // pause when caught up
	followRetry    = time.Second            // pause after an error
	standbyMessage = "this server is a standby following %s: send writes to the primary, or promote this server"
)

// ErrStandby: a write reached a standby.
var ErrStandby = errors.New("standby")

// replication is where this server stands.
type replication struct {
	mu            sync.Mutex
	standby       bool
	following     string
	primarySeq    uint64
	lastEventTime time.Time
	lastContact   time.Time
	lastErr       string
	stop          context.CancelFunc
}

// refuseOnStandby is the check every write makes.
func (s *Server) refuseOnStandby() error {
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	if s.repl.standby {
		return fmt.Errorf(standbyMessage+": %w", s.repl.following, ErrStandby)
	}
	return nil
}

// Follow makes this server a standby of the primary at addr, reached over
// conn, at once, and returns the loop that follows it until ctx ends or the
// server is promoted.
func (s *Server) Follow(ctx context.Context, conn grpc.ClientConnInterface, addr string) (run func()) {
	ctx, cancel := context.WithCancel(ctx)
	s.repl.mu.Lock()
	s.repl.standby, s.repl.following, s.repl.stop = true, addr, cancel
	s.repl.mu.Unlock()
	primary := banliv1.NewReplicationServiceClient(conn)
	return func() { s.follow(ctx, banliv1.NewEventServiceClient(conn), primary) }
}

func (s *Server) follow(ctx context.Context, events banliv1.EventServiceClient, primary banliv1.ReplicationServiceClient) {
	for ctx.Err() == nil {
		applied, err := s.appliedSequence()
		if err == nil {
			var page *banliv1.ListEventsResponse
			page, err = events.ListEvents(ctx, &banliv1.ListEventsRequest{AfterSequence: applied, PageSize: followBatch})
			if err == nil {
				s.repl.mu.Lock()
				s.repl.primarySeq, s.repl.lastContact, s.repl.lastErr = page.GetLatestSequence(), s.now(), ""
				s.repl.mu.Unlock()
				err = s.applyEvents(ctx, primary, page.GetEvents())
				if err == nil && len(page.GetEvents()) == followBatch {
					continue // more are waiting
				}
			}
		}
		pause := followIdle
		if err != nil && ctx.Err() == nil {
			s.repl.mu.Lock()
			s.repl.lastErr = err.Error()
			s.repl.mu.Unlock()
			pause = followRetry
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

func (s *Server) appliedSequence() (uint64, error) {
	var seq uint64
	err := s.store.View(func(r store.Reader) error {
		var err error
		seq, err = r.LatestEvent()
		return err
	})
	return seq, err
}

// applyEvents applies a page of the primary's events in one transaction.
// The files the page's cases name that this server lacks are fetched
// first, and kept once the page has committed, as an upload's are.
func (s *Server) applyEvents(ctx context.Context, primary banliv1.ReplicationServiceClient, events []*banliv1.Event) error {
	if len(events) == 0 {
		return nil
	}
	fetched, err := s.fetchFiles(ctx, primary, events)
	kept := false
	defer func() {
		for _, f := range fetched {
			if !kept {
				f.Discard()
			}
		}
	}()
	if err != nil {
		return err
	}
	var calendars []*banliv1.CalendarYear
	accountsChanged := false
	_, err = s.commit(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
		calendars = calendars[:0]
		for _, ev := range events {
			ev = proto.Clone(ev).(*banliv1.Event)
			switch snap := ev.GetSnapshot().(type) {
			case *banliv1.Event_Proposal:
				id := idOf(snap.Proposal.GetName(), proposalsCollection)
				var before contribution
				if old, err := tx.Proposal(id); err == nil {
					before = contributions(old)
				}
				stageCounters(tx, before, snap.Proposal)
				ev.Snapshot = nil
				tx.Replicate(store.KindProposal, id, snap.Proposal, ev)
			case *banliv1.Event_Session:
				ev.Snapshot = nil
				tx.Replicate(store.KindSession, idOf(snap.Session.GetName(), sessionsCollection), snap.Session, ev)
			case *banliv1.Event_Unit:
				ev.Snapshot = nil
				tx.Replicate(store.KindUnit, idOf(snap.Unit.GetName(), unitsCollection), snap.Unit, ev)
			case *banliv1.Event_Leader:
				ev.Snapshot = nil
				tx.Replicate(store.KindLeader, idOf(snap.Leader.GetName(), leadersCollection), snap.Leader, ev)
			case *banliv1.Event_ScoringPolicy:
				ev.Snapshot = nil
				tx.Replicate(store.KindScoringPolicy, 0, snap.ScoringPolicy, ev)
			case *banliv1.Event_Webhook:
				ev.Snapshot = nil
				tx.Replicate(store.KindWebhook, idOf(snap.Webhook.GetName(), webhooksCollection), snap.Webhook, ev)
			case *banliv1.Event_CalendarYear:
				ev.Snapshot = nil
				tx.Replicate(store.KindCalendar, 0, snap.CalendarYear, ev)
				calendars = append(calendars, snap.CalendarYear)
			case *banliv1.Event_Account:
				ev.Snapshot = nil
				tx.Replicate(store.KindAccount, 0, snap.Account, ev)
				accountsChanged = true
			default:
				return nil, fmt.Errorf("event %d carries no snapshot", ev.GetSequence())
			}
		}
		return &banliv1.Event{}, nil
	})
	if accountsChanged {
		s.signIns.forget("")
	}
	if err != nil {
		return err
	}
	kept = true
	for _, f := range fetched {
		if err := f.Keep(); err != nil {
			return err // Recover keeps it when the server next opens
		}
	}
	for _, cy := range calendars {
		s.calendar.Set(cy)
	}
	s.repl.mu.Lock()
	s.repl.lastEventTime = events[len(events)-1].GetTime().AsTime()
	s.repl.mu.Unlock()
	return nil
}

// fetchFiles stages every file content that the cases of events name and
// this server does not hold, fetched from the primary.
func (s *Server) fetchFiles(ctx context.Context, primary banliv1.ReplicationServiceClient, events []*banliv1.Event) ([]store.StagedFile, error) {
	if s.files == nil {
		return nil, nil
	}
	var staged []store.StagedFile
	seen := map[string]bool{}
	for _, ev := range events {
		for _, f := range ev.GetProposal().GetFiles() {
			sha := f.GetSha256()
			if seen[sha] {
				continue
			}
			seen[sha] = true
			held, err := s.files.Has(sha)
			if err != nil || held {
				if err != nil {
					return staged, err
				}
				continue
			}
			one, err := s.fetchFile(ctx, primary, sha, f.GetSizeBytes())
			if err != nil {
				return staged, fmt.Errorf("fetch %s (%s) from the primary: %w", f.GetName(), sha, err)
			}
			staged = append(staged, one)
		}
	}
	return staged, nil
}

func (s *Server) fetchFile(ctx context.Context, primary banliv1.ReplicationServiceClient, sha string, size int64) (store.StagedFile, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := primary.FetchFile(ctx, &banliv1.FetchFileRequest{Sha256: sha})
	if err != nil {
		return nil, err
	}
	staged, err := s.files.Stage(&bodyReader{recv: stream.Recv}, max(size, maxFileBytes))
	if err != nil {
		return nil, err
	}
	if staged.SHA256() != sha {
		staged.Discard()
		return nil, fmt.Errorf("the primary sent content hashing to %s: %w", staged.SHA256(), store.ErrCorrupt)
	}
	return staged, nil
}

// bodyReader reads a stream of HttpBody chunks as bytes.
type bodyReader struct {
	recv func() (*httpbody.HttpBody, error)
	buf  []byte
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		chunk, err := r.recv()
		if err != nil {
			return 0, err
		}
		r.buf = chunk.GetData()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// GetReplicationStatus says where this server stands.
func (s *Server) GetReplicationStatus(ctx context.Context, req *banliv1.GetReplicationStatusRequest) (*banliv1.ReplicationStatus, error) {
	applied, err := s.appliedSequence()
	if err != nil {
		return nil, err
	}
	s.repl.mu.Lock()
	defer s.repl.mu.Unlock()
	st := &banliv1.ReplicationStatus{Role: banliv1.ReplicationRole_REPLICATION_ROLE_PRIMARY, AppliedSequence: applied}
	if !s.repl.standby {
		return st, nil
	}
	st.Role = banliv1.ReplicationRole_REPLICATION_ROLE_STANDBY
	st.Following, st.PrimarySequence, st.LastError = s.repl.following, s.repl.primarySeq, s.repl.lastErr
	if !s.repl.lastContact.IsZero() {
		st.LastContact = timestamppb.New(s.repl.lastContact)
	}
	if s.repl.primarySeq > applied {
		st.LagEvents = s.repl.primarySeq - applied
		if !s.repl.lastEventTime.IsZero() {
			st.LagSeconds = s.now().Sub(s.repl.lastEventTime).Seconds()
		}
	}
	return st, nil
}

// Promote makes a standby a primary.
func (s *Server) Promote(ctx context.Context, req *banliv1.PromoteRequest) (*banliv1.ReplicationStatus, error) {
	s.repl.mu.Lock()
	if !s.repl.standby {
		s.repl.mu.Unlock()
		return nil, fmt.Errorf("this server is already a primary: %w", ErrPrecondition)
	}
	s.repl.standby = false
	s.repl.stop()
	s.repl.mu.Unlock()
	return s.GetReplicationStatus(ctx, &banliv1.GetReplicationStatusRequest{})
}
