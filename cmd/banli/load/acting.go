package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/dial"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// ActingClient signs each call in as an account that the call's access
// rule allows, the way the real parties would take turns on a case: the
// office registers and assigns, the unit's staff sign and consult, its head
// replies. The load tools (banli seed, banli bench) use it, and so do the
// tests. Given an admin key, it creates the accounts it needs on first use,
// named <prefix>-office, <prefix>-staff-<unit id>, and so on.
type ActingClient struct {
	adminKey string
	prefix   string
	// accounts calls AccountService as the admin; set by attach.
	accounts banliv1.AccountServiceClient
	// proposals reads cases as the office, to learn whose part a step is.
	proposals banliv1.ProposalServiceClient

	// rules is the server's access table (ListAccessRules), read on first
	// use: method to the roles that may call it.
	rulesMu sync.Mutex
	rules   map[string][]banliv1.Role

	// creating serialises account creation, so that two calls needing the
	// same new account do not rotate each other's key away.
	creating sync.Mutex
	mu       sync.Mutex
	keys     map[string]string // account id -> key
	units    map[string]string // assignment name -> its unit
}

func NewActingClient(adminKey, prefix string) *ActingClient {
	return &ActingClient{adminKey: adminKey, prefix: prefix, keys: map[string]string{}, units: map[string]string{}}
}

// DialOptions are what a connection needs to act through a.
func (a *ActingClient) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(a.unary), grpc.WithChainStreamInterceptor(a.stream)}
}

// Attach gives a the connection to create accounts and look up cases on.
func (a *ActingClient) Attach(conn grpc.ClientConnInterface) {
	a.accounts = banliv1.NewAccountServiceClient(conn)
	a.proposals = banliv1.NewProposalServiceClient(conn)
}

func (a *ActingClient) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, err := a.signIn(ctx, method, req)
	if err != nil {
		return err
	}
	err = invoker(ctx, method, req, reply, cc, opts...)
	if p, ok := reply.(*banliv1.Proposal); ok && err == nil {
		a.learn(p)
	}
	return err
}

func (a *ActingClient) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := a.signIn(ctx, method, nil)
	if err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// signIn adds the key of an account fit for the call, unless the caller
// chose credentials itself.
func (a *ActingClient) signIn(ctx context.Context, method string, req any) (context.Context, error) {
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		return ctx, nil
	}
	key, err := a.KeyFor(ctx, method, req)
	if err != nil || key == "" {
		return ctx, err
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key), nil
}

// KeyFor picks the account for a call: the office wherever the office may
// act, else the unit whose part the call names (its staff, or its head
// where only a head may), else the admin or an auditor.
func (a *ActingClient) KeyFor(ctx context.Context, method string, req any) (string, error) {
	if method == banliv1.AccountService_ListAccessRules_FullMethodName {
		return a.adminKey, nil // how the table is read
	}
	rules, err := a.accessRules(ctx)
	if err != nil {
		return "", err
	}
	roles, ok := rules[method]
	if !ok {
		return a.adminKey, nil // not Banli's (health, reflection): any key
	}
	allows := func(r banliv1.Role) bool { return slices.Contains(roles, r) }
	msg, _ := req.(proto.Message)
	switch {
	case allows(banliv1.Role_ROLE_OFFICE):
		return a.Key(ctx, "office", banliv1.Role_ROLE_OFFICE, "")
	case allows(banliv1.Role_ROLE_UNIT_STAFF) || allows(banliv1.Role_ROLE_UNIT_HEAD):
		unit, err := a.unitOf(ctx, msg)
		if err != nil {
			return "", err
		}
		if allows(banliv1.Role_ROLE_UNIT_STAFF) {
			return a.Key(ctx, "staff-"+lastID(unit), banliv1.Role_ROLE_UNIT_STAFF, unit)
		}
		return a.Key(ctx, "head-"+lastID(unit), banliv1.Role_ROLE_UNIT_HEAD, unit)
	case allows(banliv1.Role_ROLE_ADMIN):
		return a.adminKey, nil
	case allows(banliv1.Role_ROLE_AUDITOR):
		return a.Key(ctx, "auditor", banliv1.Role_ROLE_AUDITOR, "")
	}
	return "", fmt.Errorf("actingClient: no role to act as for %s", method)
}

// accessRules reads the server's access table through the API, once it
// has been read without error.
func (a *ActingClient) accessRules(ctx context.Context) (map[string][]banliv1.Role, error) {
	a.rulesMu.Lock()
	defer a.rulesMu.Unlock()
	if a.rules != nil {
		return a.rules, nil
	}
	adminCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.adminKey)
	resp, err := a.accounts.ListAccessRules(adminCtx, &banliv1.ListAccessRulesRequest{})
	if err != nil {
		return nil, fmt.Errorf("read the access table: %w", err)
	}
	rules := map[string][]banliv1.Role{}
	for _, r := range resp.GetRules() {
		rules[r.GetMethod()] = r.GetRoles()
	}
	a.rules = rules
	return rules, nil
}

// prepare makes (or re-keys) the office's account and every unit's staff
// account now, so that a timed run does not pay for it on its first calls.
func (a *ActingClient) prepare(ctx context.Context, units []string) error {
	if _, err := a.Key(ctx, "office", banliv1.Role_ROLE_OFFICE, ""); err != nil {
		return err
	}
	for _, unit := range units {
		if _, err := a.Key(ctx, "staff-"+lastID(unit), banliv1.Role_ROLE_UNIT_STAFF, unit); err != nil {
			return err
		}
	}
	return nil
}

// unitOf finds the unit whose part a request names.
func (a *ActingClient) unitOf(ctx context.Context, msg proto.Message) (string, error) {
	name := ""
	if msg != nil {
		if fd := msg.ProtoReflect().Descriptor().Fields().ByName("name"); fd != nil {
			name = msg.ProtoReflect().Get(fd).String()
		}
	}
	parts := strings.Split(name, "/")
	if len(parts) < 4 {
		return "", fmt.Errorf("actingClient: %q names no assignment", name)
	}
	assignment := strings.Join(parts[:4], "/")
	a.mu.Lock()
	unit, ok := a.units[assignment]
	a.mu.Unlock()
	if ok {
		return unit, nil
	}
	p, err := a.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: strings.Join(parts[:2], "/")})
	if err != nil {
		return "", err
	}
	a.learn(p)
	a.mu.Lock()
	unit = a.units[assignment]
	a.mu.Unlock()
	if unit == "" {
		return "", status.Errorf(codes.NotFound, "%s does not exist", assignment)
	}
	return unit, nil
}

// learn remembers whose part each assignment of p is.
func (a *ActingClient) learn(p *banliv1.Proposal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, as := range p.GetAssignments() {
		a.units[as.GetName()] = as.GetUnit()
	}
}

// Key returns the key of account <prefix>-<suffix>, creating the account
// (or, if a previous run made it, giving it a new key) the first time.
func (a *ActingClient) Key(ctx context.Context, suffix string, role banliv1.Role, unit string) (string, error) {
	id := a.prefix + "-" + suffix
	a.mu.Lock()
	key, ok := a.keys[id]
	a.mu.Unlock()
	if ok {
		return key, nil
	}
	a.creating.Lock()
	defer a.creating.Unlock()
	a.mu.Lock()
	key, ok = a.keys[id]
	a.mu.Unlock()
	if ok {
		return key, nil
	}
	adminCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.adminKey)
	made, err := a.accounts.CreateAccount(adminCtx, &banliv1.CreateAccountRequest{
		AccountId: id,
		Account:   &banliv1.Account{DisplayName: id, Role: role, Unit: unit},
	})
	if status.Code(err) == codes.AlreadyExists {
		made, err = a.accounts.RotateAccountKey(adminCtx, &banliv1.RotateAccountKeyRequest{Name: "accounts/" + id})
	}
	if err != nil {
		return "", fmt.Errorf("make account %s: %w", id, err)
	}
	a.mu.Lock()
	a.keys[id] = made.GetKey()
	a.mu.Unlock()
	return made.GetKey(), nil
}

// lastID is "12" for "units/12".
func lastID(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

var errNoAdminKey = errors.New("no API key: set BANLI_TOKEN or -token-file to an admin account's key (a new server writes one to admin.key beside its data file)")

// DialActing connects with an admin key through an ActingClient, which
// signs each call in as a role fit for it.
func DialActing(f *dial.Flags, prefix string, extra ...grpc.DialOption) (*grpc.ClientConn, *ActingClient, error) {
	key, err := f.Key()
	if err != nil {
		return nil, nil, err
	}
	if key == "" {
		return nil, nil, errNoAdminKey
	}
	opts, err := f.TransportOptions()
	if err != nil {
		return nil, nil, err
	}
	acting := NewActingClient(key, prefix)
	conn, err := grpc.NewClient(f.Addr, append(append(opts, acting.DialOptions()...), extra...)...)
	if err != nil {
		return nil, nil, err
	}
	acting.Attach(conn)
	return conn, acting, nil
}

// AdminKey is the admin key the client acts with.
func (a *ActingClient) AdminKey() string { return a.adminKey }

// Attached reports whether Attach was called.
func (a *ActingClient) Attached() bool { return a.accounts != nil }
