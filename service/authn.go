package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Signing in. Banli issues opaque API keys and keeps only their SHA-256
// (not signed tokens): a key is checked against the stored account on
// every call, so disabling an account or rotating its key takes effect on
// the next call, with no revocation list and no signing key to guard. A key
// is 32 random bytes, so a plain SHA-256 is enough to store it (there is
// nothing to guess, unlike a password).
//
// A key reads "banli_<account id>_<secret>": the account id lets the
// server find the account with one read, and makes a leaked key easy to
// trace. Account ids have no "_", so the first one after the prefix ends
// the id.

const (
	keyPrefix      = "banli_"
	keySecretBytes = 32
)

// Caller is the signed-in account of a call.
type Caller struct {
	// Account is the account's name, `accounts/{id}`.
	Account string
	Role    banliv1.Role
	// Unit is the unit the account acts for, if any.
	Unit string
	// Principal: a unit head who is its unit's principal head (主要负责人).
	Principal bool
	// Leader is the leader a leader's account signs in as.
	Leader string
	// Body and Level bind an office account to one body's sessions (and
	// one level's), if set (see reachesSession).
	Body  banliv1.Body
	Level banliv1.Level
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the signed-in caller of ctx, if any.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// anonymous names the actor of a call with no caller: work the server does
// on its own, or a server run without authentication to measure its cost.
const anonymous = "anonymous"

// Actor names the caller of ctx for events, audit records and logs.
func Actor(ctx context.Context) string {
	if a := callerAccount(ctx); a != "" {
		return a
	}
	return anonymous
}

// CallNote is where sign-in notes a call's caller for an interceptor
// outside it (the server's log of refused calls), which cannot see the
// context sign-in makes: a call the access table refuses was signed in,
// and its log line names who.
type CallNote struct {
	// Actor is the signed-in caller's account name, "" before sign-in.
	Actor string
}

type callNoteKey struct{}

// WithCallNote returns ctx with a note that sign-in fills.
func WithCallNote(ctx context.Context) (context.Context, *CallNote) {
	n := &CallNote{}
	return context.WithValue(ctx, callNoteKey{}, n), n
}

// noteCaller fills the call's note, if it has one.
func noteCaller(ctx context.Context, c *Caller) {
	if n, ok := ctx.Value(callNoteKey{}).(*CallNote); ok {
		n.Actor = c.Account
	}
}

// callerAccount is the signed-in caller's account name, or "": what a case
// records as its submitter, or a reply as the head who signed it off.
func callerAccount(ctx context.Context) string {
	if c, ok := CallerFrom(ctx); ok {
		return c.Account
	}
	return ""
}

// GatewayAuthInfo marks a connection from Banli's own REST gateway, made
// in-process: only such a connection may pass on the REST caller's client
// certificate and address in the Gateway* metadata. The transport sets it
// (see cmd/banli); no network client can.
type GatewayAuthInfo struct {
	credentials.CommonAuthInfo
}

// AuthType implements credentials.AuthInfo.
func (GatewayAuthInfo) AuthType() string { return "banli-gateway" }

// Metadata the REST gateway adds for the REST caller; ignored from anyone
// else, and never taken from the REST request's own headers.
const (
	// GatewayClientCertHeader carries the common name of the REST caller's
	// verified TLS client certificate.
	GatewayClientCertHeader = "x-banli-gateway-client-cn"
	// GatewaySourceHeader carries the REST caller's address.
	GatewaySourceHeader = "x-banli-gateway-source"
)

// fromGateway reports whether the call came over the in-process gateway
// connection.
func fromGateway(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.AuthInfo.(GatewayAuthInfo)
	return ok
}

// gatewayValue is the one value of a Gateway* metadata key on a gateway
// call, or "".
func gatewayValue(ctx context.Context, key string) string {
	if !fromGateway(ctx) {
		return ""
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(key); len(v) == 1 {
		return v[0]
	}
	return ""
}

// signInError is a failed sign-in: what the caller is told, and the
// account it claimed (for the audit trail).
type signInError struct {
	claimed string
	reason  string
}

func (e *signInError) Error() string { return e.reason }
func (e *signInError) Unwrap() error { return ErrUnauthenticated }

// badKey is what every wrong key hears, so that a guesser cannot tell an
// unknown account from a wrong secret, a disabled account or an expired key.
const badKey = "the API key is not valid (unknown, rotated, expired, or its account is disabled)"

// authenticate finds the caller of ctx from its credentials: a bearer key,
// else a verified TLS client certificate (directly, or through the
// gateway).
func (s *Server) authenticate(ctx context.Context) (*Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if values := md.Get("authorization"); len(values) > 0 {
		if len(values) > 1 {
			return nil, &signInError{claimed: "unknown", reason: "send one authorization header, not several"}
		}
		return s.signInWithKey(values[0])
	}
	if cn := certificateName(ctx); cn != "" {
		return s.signInWithCertificate(cn)
	}
	return nil, &signInError{claimed: "unknown", reason: "sign in: send \"authorization: Bearer <API key>\", or a TLS client certificate mapped to an account"}
}

func (s *Server) signInWithKey(header string) (*Caller, error) {
	scheme, key, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "bearer") || key == "" {
		return nil, &signInError{claimed: "unknown", reason: "the authorization header must be \"Bearer <API key>\""}
	}
	id, ok := keyAccount(key)
	if !ok {
		return nil, &signInError{claimed: "unknown", reason: badKey}
	}
	fail := &signInError{claimed: accountName(id), reason: badKey}
	a, err := s.signIns.account(id, func() (*banliv1.Account, error) { return s.readAccount(id) })
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fail
		}
		return nil, err
	}
	sum := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare(sum[:], a.GetKeySha256()) != 1 || !a.GetActive() {
		return nil, fail
	}
	if exp := a.GetKeyExpireTime(); exp != nil && !s.now().Before(exp.AsTime()) {
		return nil, fail
	}
	return callerOf(a), nil
}

// accountCache keeps the accounts keys sign in as, so that a sign-in does
// not read and decode the account on every call. Every write of an
// account forgets it once the write has committed (forget), before the
// writing call returns: a key disabled or rotated by a call that has
// returned never signs in again.
type accountCache struct {
	mu       sync.RWMutex
	accounts map[string]*banliv1.Account
	// generation counts forgets: a load that began before one may have read
	// the old account, so it is not cached.
	generation uint64
}

// account returns the cached account id, or loads and caches it.
func (c *accountCache) account(id string, load func() (*banliv1.Account, error)) (*banliv1.Account, error) {
	c.mu.RLock()
	a, ok := c.accounts[id]
	generation := c.generation
	c.mu.RUnlock()
	if ok {
		return a, nil
	}
	a, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.generation == generation {
		if c.accounts == nil {
			c.accounts = map[string]*banliv1.Account{}
		}
		c.accounts[id] = a
	}
	c.mu.Unlock()
	return a, nil
}

// forget drops account id from the cache ("" drops every account).
func (c *accountCache) forget(id string) {
	c.mu.Lock()
	c.generation++
	if id == "" {
		c.accounts = nil
	} else {
		delete(c.accounts, id)
	}
	c.mu.Unlock()
}

func (s *Server) signInWithCertificate(cn string) (*Caller, error) {
	var a *banliv1.Account
	err := s.store.View(func(r store.Reader) error {
		id, err := r.AccountByCertificate(cn)
		if err != nil {
			return err
		}
		if id == "" {
			return store.ErrNotFound
		}
		a, err = r.Account(id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && !a.GetActive()) {
		return nil, &signInError{claimed: "certificate " + cn, reason: "no active account is mapped to this client certificate"}
	}
	if err != nil {
		return nil, err
	}
	return callerOf(a), nil
}

// certificateName is the common name of the caller's verified TLS client
// certificate: the gRPC peer's own, or the REST caller's as the gateway
// passes it on.
func certificateName(ctx context.Context) string {
	if cn := gatewayValue(ctx, GatewayClientCertHeader); cn != "" {
		return cn
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(tlsInfo.State.VerifiedChains) == 0 || len(tlsInfo.State.VerifiedChains[0]) == 0 {
		return ""
	}
	return tlsInfo.State.VerifiedChains[0][0].Subject.CommonName
}

func callerOf(a *banliv1.Account) *Caller {
	return &Caller{Account: a.GetName(), Role: a.GetRole(), Unit: a.GetUnit(), Principal: a.GetPrincipal(), Leader: a.GetLeader(),
		Body: a.GetBody(), Level: a.GetLevel()}
}

// newKey makes a key for account id, and its SHA-256 to store.
func newKey(id string) (key string, sum []byte) {
	secret := make([]byte, keySecretBytes)
	rand.Read(secret) // never fails (crypto/rand)
	key = keyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256([]byte(key))
	return key, h[:]
}

// keyAccount returns the account id a key claims.
func keyAccount(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || !validAccountID(id) || len(secret) != base64.RawURLEncoding.EncodedLen(keySecretBytes) {
		return "", false
	}
	return id, true
}

// keyExpiry is when a key made now with ttlDays expires (nil: never).
func keyExpiry(now time.Time, ttlDays int32) *timestamppb.Timestamp {
	if ttlDays == 0 {
		return nil
	}
	return timestamppb.New(now.AddDate(0, 0, int(ttlDays)))
}
