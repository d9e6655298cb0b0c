package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/webhook"
	"github.com/banli/banli/store"
)

// Webhooks are records like leaders, with their events; what each has
// delivered is its outbox beside it (webhookdelivery.go). A webhook's
// secret lives in its record and travels in its events to a standby
// only: no answer and no other reader's event carries it (shownWebhook,
// withoutSecrets).

const (
	maxWebhookURLLen = 2000
	// maxWebhooksPerOwner bounds what one account can make the server
	// post to: each webhook is a worker and outbound traffic.
	maxWebhooksPerOwner = 20
	// secretBytes is a secret's length: 256 bits, as the HMAC's key.
	secretBytes = 32
	// previousSecretGrace is how long a rotated-out secret still signs.
	previousSecretGrace = 24 * time.Hour
)

// CreateWebhook creates a webhook owned by the caller, and its secret.
func (s *Server) CreateWebhook(ctx context.Context, req *banliv1.CreateWebhookRequest) (*banliv1.CreateWebhookResponse, error) {
	if err := s.webhooksAllowed(); err != nil {
		return nil, err
	}
	v := &violations{}
	v.requestID(req.GetRequestId())
	if req.GetWebhook() == nil {
		v.add("webhook", "required")
	} else {
		s.validWebhook(v, req.GetWebhook())
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	secret := newSecret()
	c, _ := CallerFrom(ctx)
	resp, err := write(ctx, s, banliv1.WebhookService_CreateWebhook_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.CreateWebhookResponse, error) {
		owned, err := webhooksOf(tx, c.Account)
		if err != nil {
			return nil, err
		}
		if len(owned) >= maxWebhooksPerOwner {
			return nil, fmt.Errorf("%s keeps %d webhooks, the most one account may: delete one first: %w", c.Account, len(owned), ErrPrecondition)
		}
		id, err := tx.NewID(store.KindWebhook)
		if err != nil {
			return nil, err
		}
		latest, err := tx.LatestEvent()
		if err != nil {
			return nil, err
		}
		in := req.GetWebhook()
		w := &banliv1.Webhook{
			Name: webhookName(id), DisplayName: in.GetDisplayName(), Url: in.GetUrl(),
			Actions: in.GetActions(), Session: in.GetSession(), Unit: in.GetUnit(), Proposal: in.GetProposal(), Paused: in.GetPaused(),
			Owner: c.Account, StartSequence: latest,
			CreateTime: timestampOf(now), UpdateTime: timestampOf(now), SecretCreateTime: timestampOf(now),
			Etag: nextEtag(""), Secret: secret,
		}
		tx.PutWebhook(id, w, newEvent(ctx, w.GetCreateTime(), "CreateWebhook", "", "", webhookState(w), w.GetUrl()))
		return &banliv1.CreateWebhookResponse{Webhook: shownWebhook(w), Secret: webhook.ShowSecret(secret)}, nil
	})
	if err == nil {
		s.hooks.poke(idOf(resp.GetWebhook().GetName(), webhooksCollection))
	}
	return resp, err
}

// GetWebhook returns one webhook.
func (s *Server) GetWebhook(ctx context.Context, req *banliv1.GetWebhookRequest) (*banliv1.Webhook, error) {
	v := &violations{}
	id := v.webhookID("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	var w *banliv1.Webhook
	err := s.store.View(func(r store.Reader) error {
		var err error
		w, err = liveWebhook(r, id, req.GetName())
		return err
	})
	return shownWebhook(w), err
}

// ListWebhooks lists the webhooks the caller keeps.
func (s *Server) ListWebhooks(ctx context.Context, req *banliv1.ListWebhooksRequest) (*banliv1.ListWebhooksResponse, error) {
	v := &violations{}
	after := v.page(req, req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	c, _ := CallerFrom(ctx)
	size := pageSize(req.GetPageSize(), defaultPageSize)
	resp := &banliv1.ListWebhooksResponse{}
	err := s.store.View(func(r store.Reader) error {
		for {
			page, more, err := r.ListWebhooks(after, size)
			if err != nil {
				return err
			}
			for _, w := range page {
				after = idOf(w.GetName(), webhooksCollection)
				if w.GetDeleteTime() == nil && keepsWebhook(c, w) {
					resp.Webhooks = append(resp.Webhooks, shownWebhook(w))
				}
				if len(resp.Webhooks) == size {
					if more || w != page[len(page)-1] {
						resp.NextPageToken = pageToken(req, after)
					}
					return nil
				}
			}
			if !more {
				return nil
			}
		}
	})
	return resp, err
}

// UpdateWebhook changes a webhook's URL, filters, name or pause.
func (s *Server) UpdateWebhook(ctx context.Context, req *banliv1.UpdateWebhookRequest) (*banliv1.Webhook, error) {
	v := &violations{}
	id := v.webhookID("webhook.name", req.GetWebhook().GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.webhooksAllowed(); err != nil {
		return nil, err
	}
	defer s.hooks.poke(id)
	return write(ctx, s, banliv1.WebhookService_UpdateWebhook_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Webhook, error) {
		w, err := liveWebhook(tx, id, req.GetWebhook().GetName())
		if err != nil {
			return nil, err
		}
		if err := checkEtag(req.GetEtag(), w.GetEtag(), w.GetName()); err != nil {
			return nil, err
		}
		from := webhookState(w)
		changes, err := applyMask(w, req.GetWebhook(), req.GetUpdateMask(), "webhook")
		if err != nil {
			return nil, err
		}
		v := &violations{}
		s.validWebhook(v, w)
		if err := v.err(); err != nil {
			return nil, err
		}
		w.Etag, w.UpdateTime = nextEtag(w.GetEtag()), timestampOf(now)
		ev := newEvent(ctx, w.GetUpdateTime(), "UpdateWebhook", "", from, webhookState(w), describeChanges(changes, ""))
		ev.Changes = changes
		tx.PutWebhook(id, w, ev)
		return shownWebhook(w), nil
	})
}

// DeleteWebhook stops a webhook for good.
func (s *Server) DeleteWebhook(ctx context.Context, req *banliv1.DeleteWebhookRequest) (*banliv1.Webhook, error) {
	v := &violations{}
	id := v.webhookID("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	defer s.hooks.poke(id)
	return write(ctx, s, banliv1.WebhookService_DeleteWebhook_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Webhook, error) {
		w, err := liveWebhook(tx, id, req.GetName())
		if err != nil {
			return nil, err
		}
		if err := checkEtag(req.GetEtag(), w.GetEtag(), w.GetName()); err != nil {
			return nil, err
		}
		from := webhookState(w)
		w.Etag, w.UpdateTime, w.DeleteTime = nextEtag(w.GetEtag()), timestampOf(now), timestampOf(now)
		w.Secret, w.PreviousSecret, w.PreviousSecretExpireTime = nil, nil, nil // nothing signs as it any more
		tx.PutWebhook(id, w, newEvent(ctx, w.GetDeleteTime(), "DeleteWebhook", "", from, webhookState(w), ""))
		return shownWebhook(w), nil
	})
}

// RotateWebhookSecret gives a webhook a new secret.
func (s *Server) RotateWebhookSecret(ctx context.Context, req *banliv1.RotateWebhookSecretRequest) (*banliv1.RotateWebhookSecretResponse, error) {
	v := &violations{}
	id := v.webhookID("name", req.GetName())
	v.requestID(req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	secret := newSecret()
	defer s.hooks.poke(id)
	return write(ctx, s, banliv1.WebhookService_RotateWebhookSecret_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.RotateWebhookSecretResponse, error) {
		w, err := liveWebhook(tx, id, req.GetName())
		if err != nil {
			return nil, err
		}
		w.PreviousSecret, w.PreviousSecretExpireTime = w.GetSecret(), timestamppb.New(now.Add(previousSecretGrace))
		details := "the previous secret signs too until " + w.GetPreviousSecretExpireTime().AsTime().Format(time.RFC3339)
		if req.GetRevokePrevious() {
			w.PreviousSecret, w.PreviousSecretExpireTime = nil, nil
			details = "the previous secret revoked at once"
		}
		w.Secret, w.SecretCreateTime = secret, timestampOf(now)
		w.Etag, w.UpdateTime = nextEtag(w.GetEtag()), timestampOf(now)
		state := webhookState(w)
		tx.PutWebhook(id, w, newEvent(ctx, w.GetUpdateTime(), "RotateWebhookSecret", "", state, state, details))
		return &banliv1.RotateWebhookSecretResponse{Webhook: shownWebhook(w), Secret: webhook.ShowSecret(secret)}, nil
	})
}

// validWebhook checks a webhook as given to CreateWebhook, or as an
// update leaves it.
func (s *Server) validWebhook(v *violations, w *banliv1.Webhook) {
	v.line("webhook.display_name", w.GetDisplayName(), maxNameLen, false)
	switch url := w.GetUrl(); {
	case url == "":
		v.add("webhook.url", "required")
	case len(url) > maxWebhookURLLen:
		v.add("webhook.url", "at most %d characters", maxWebhookURLLen)
	default:
		switch err := s.webhookAllow.Check(url); {
		case errors.Is(err, webhook.ErrNotAllowed):
			v.add("webhook.url", "is not within the URLs the operator allows (-webhook-allow)")
		case err != nil:
			v.add("webhook.url", "must be an http or https URL with a host, and without a user, password or fragment")
		}
	}
	validEventFilter(v, "webhook.", w.GetActions(), w.GetSession(), w.GetUnit(), w.GetProposal())
}

// webhooksAllowed refuses webhooks where the operator allows no URL.
func (s *Server) webhooksAllowed() error {
	if s.webhookAllow.Empty() {
		return fmt.Errorf("webhooks are off: the operator allows no URL for them (-webhook-allow): %w", ErrPrecondition)
	}
	return nil
}

// liveWebhook reads webhook id, refusing a deleted one as not found.
func liveWebhook(r store.Reader, id uint64, name string) (*banliv1.Webhook, error) {
	w, err := r.Webhook(id)
	if err != nil {
		return nil, notFoundOr(err, name, "")
	}
	if w.GetDeleteTime() != nil {
		return nil, resourceNotFound(name, "")
	}
	return w, nil
}

// webhooksOf lists the live webhooks an account owns.
func webhooksOf(r store.Reader, owner string) ([]*banliv1.Webhook, error) {
	var out []*banliv1.Webhook
	for after := uint64(0); ; {
		page, more, err := r.ListWebhooks(after, 1000)
		if err != nil {
			return nil, err
		}
		for _, w := range page {
			if w.GetDeleteTime() == nil && w.GetOwner() == owner {
				out = append(out, w)
			}
		}
		if !more || len(page) == 0 {
			return out, nil
		}
		after = idOf(page[len(page)-1].GetName(), webhooksCollection)
	}
}

// shownWebhook is w as WebhookService answers: without its secrets.
func shownWebhook(w *banliv1.Webhook) *banliv1.Webhook {
	if w == nil {
		return nil
	}
	out := proto.Clone(w).(*banliv1.Webhook)
	out.Secret, out.PreviousSecret, out.PreviousSecretExpireTime = nil, nil, nil
	return out
}

// webhookState is a webhook's state as its events record it.
func webhookState(w *banliv1.Webhook) string {
	switch {
	case w.GetDeleteTime() != nil:
		return "DELETED"
	case w.GetPaused():
		return "PAUSED"
	}
	return "ACTIVE"
}

// signingSecrets are the secrets a delivery at now is signed with: the
// current one, and the previous one while its grace lasts.
func signingSecrets(w *banliv1.Webhook, now time.Time) [][]byte {
	secrets := [][]byte{w.GetSecret()}
	if len(w.GetPreviousSecret()) > 0 && now.Before(w.GetPreviousSecretExpireTime().AsTime()) {
		secrets = append(secrets, w.GetPreviousSecret())
	}
	return slices.DeleteFunc(secrets, func(b []byte) bool { return len(b) == 0 })
}

func newSecret() []byte {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// maxRedeliver bounds the dead letters one call names.
const maxRedeliver = 1000

// ListWebhookDeliveries lists a webhook's kept deliveries, newest first.
func (s *Server) ListWebhookDeliveries(ctx context.Context, req *banliv1.ListWebhookDeliveriesRequest) (*banliv1.ListWebhookDeliveriesResponse, error) {
	v := &violations{}
	id := v.webhookID("parent", req.GetParent())
	v.enum("state", req.GetState(), false)
	before := v.page(req, req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	var list []*banliv1.WebhookDelivery
	var dropped int64
	err := s.store.View(func(r store.Reader) error {
		if _, err := liveWebhook(r, id, req.GetParent()); err != nil {
			return err
		}
		if d := s.hooks.deliverer(id); d != nil {
			list, dropped = d.deliveries()
			return nil
		}
		o, err := r.WebhookOutbox(id) // not delivering here (a standby): as last written
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		list, dropped = outboxDeliveries(id, o), o.GetDeadDropped()
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp := &banliv1.ListWebhookDeliveriesResponse{DeadDropped: dropped}
	size := pageSize(req.GetPageSize(), defaultPageSize)
	for _, p := range list {
		if before != 0 && p.GetEventSequence() >= before || req.GetState() != 0 && p.GetState() != req.GetState() {
			continue
		}
		if len(resp.Deliveries) == size {
			resp.NextPageToken = pageToken(req, resp.Deliveries[size-1].GetEventSequence())
			break
		}
		resp.Deliveries = append(resp.Deliveries, p)
	}
	return resp, nil
}

// RedeliverWebhookDeliveries posts dead letters again.
func (s *Server) RedeliverWebhookDeliveries(ctx context.Context, req *banliv1.RedeliverWebhookDeliveriesRequest) (*banliv1.RedeliverWebhookDeliveriesResponse, error) {
	v := &violations{}
	id := v.webhookID("parent", req.GetParent())
	if len(req.GetEventSequences()) > maxRedeliver {
		v.add("event_sequences", "at most %d", maxRedeliver)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.refuseOnStandby(); err != nil {
		return nil, err
	}
	if err := s.store.View(func(r store.Reader) error { _, err := liveWebhook(r, id, req.GetParent()); return err }); err != nil {
		return nil, err
	}
	d := s.hooks.deliverer(id)
	if d == nil {
		return nil, fmt.Errorf("%s is not being delivered yet (the server is starting); try again: %w", req.GetParent(), ErrPrecondition)
	}
	list, err := d.redeliver(req.GetEventSequences())
	if err != nil {
		return nil, err
	}
	return &banliv1.RedeliverWebhookDeliveriesResponse{Deliveries: list}, nil
}
