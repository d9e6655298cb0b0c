package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

const accountService = "/banli.v1.AccountService/"

// Account limits.
const (
	maxAccountIDLen    = 63
	maxCommonNameLen   = 64
	maxKeyTTLDays      = 3650
	defaultAccountPage = 100
)

const accountsPrefix = "accounts/"

func accountName(id string) string { return accountsPrefix + id }

// accountIDOf is the id in an account's name.
func accountIDOf(name string) string { return strings.TrimPrefix(name, accountsPrefix) }

// validAccountID checks an account id: 2 to 63 lowercase letters, digits
// and hyphens, starting with a letter (so that it can sit in a key, a
// resource name and gRPC metadata unchanged).
func validAccountID(id string) bool {
	if len(id) < 2 || len(id) > maxAccountIDLen || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// accountID parses `accounts/{id}`, recording a violation on field if it is
// not one.
func (v *violations) accountID(field, name string) string {
	id, ok := strings.CutPrefix(name, accountsPrefix)
	switch {
	case name == "":
		v.add(field, "required")
	case !ok || !validAccountID(id):
		v.add(field, "must be accounts/{id}, the id 2 to %d lowercase letters, digits and hyphens starting with a letter", maxAccountIDLen)
	}
	return id
}

func validateCreateAccount(r *banliv1.CreateAccountRequest) error {
	v := &violations{}
	if !validAccountID(r.GetAccountId()) {
		v.add("account_id", "must be 2 to %d lowercase letters, digits and hyphens, starting with a letter", maxAccountIDLen)
	}
	a := r.GetAccount()
	if a == nil {
		v.add("account", "required")
		return v.err()
	}
	v.line("account.display_name", a.GetDisplayName(), maxNameLen, true)
	v.enum("account.role", a.GetRole(), true)
	switch a.GetRole() {
	case unitStaff, unitHead:
		if a.GetUnit() == "" {
			v.add("account.unit", "required for %s: the unit the account acts for", accountRoleName(a.GetRole()))
		} else {
			v.unitID("account.unit", a.GetUnit())
		}
	case viewer:
		if a.GetUnit() != "" {
			v.unitID("account.unit", a.GetUnit())
		}
	default:
		if a.GetUnit() != "" {
			v.add("account.unit", "only unit staff, unit heads and viewers act for a unit")
		}
	}
	switch {
	case a.GetRole() == leader && a.GetLeader() == "":
		v.add("account.leader", "required for a leader's account: the leader it signs in as (leaders/{leader})")
	case a.GetRole() == leader:
		v.leaderID("account.leader", a.GetLeader())
	case a.GetLeader() != "":
		v.add("account.leader", "only a leader's account (ROLE_LEADER) signs in as a leader")
	}
	v.enum("account.body", a.GetBody(), false)
	v.enum("account.level", a.GetLevel(), false)
	switch {
	case a.GetRole() != office && (a.GetBody() != 0 || a.GetLevel() != 0):
		v.add("account.body", "only an office account (ROLE_OFFICE) is bound to a body and a level")
	case a.GetLevel() != 0 && a.GetBody() == 0:
		v.add("account.level", "give the body too: a level binds an office to that body's sessions of the level")
	}
	if a.GetPrincipal() && a.GetRole() != unitHead {
		v.add("account.principal", "only a unit head may be its unit's principal head (主要负责人)")
	}
	if cn := a.GetCertificateCommonName(); cn != "" {
		if len(cn) > maxCommonNameLen || strings.TrimSpace(cn) != cn || strings.IndexFunc(cn, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			v.add("account.certificate_common_name", "at most %d printable ASCII characters, without leading or trailing space", maxCommonNameLen)
		}
	}
	v.keyTTL("key_ttl_days", r.GetKeyTtlDays())
	v.requestID(r.GetRequestId())
	return v.err()
}

func (v *violations) keyTTL(field string, days int32) {
	if days < 0 || days > maxKeyTTLDays {
		v.add(field, "must be from 0 (no expiry) to %d days", maxKeyTTLDays)
	}
}

// CreateAccount creates an account and its first key.
func (s *Server) CreateAccount(ctx context.Context, req *banliv1.CreateAccountRequest) (*banliv1.AccountKey, error) {
	if err := validateCreateAccount(req); err != nil {
		return nil, err
	}
	id := req.GetAccountId()
	key, sum := newKey(id)
	made := false
	res, err := write(ctx, s, banliv1.AccountService_CreateAccount_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.AccountKey, error) {
		in := req.GetAccount()
		if _, err := tx.Account(id); err == nil {
			return nil, fmt.Errorf("%s exists already: %w", accountName(id), ErrAlreadyExists)
		}
		if err := checkAccountUnit(tx, in.GetUnit()); err != nil {
			return nil, err
		}
		if l := in.GetLeader(); l != "" {
			if _, err := tx.Leader(idOf(l, leadersCollection)); err != nil {
				return nil, notFoundOr(err, l, "account.leader")
			}
		}
		if cn := in.GetCertificateCommonName(); cn != "" {
			other, err := tx.AccountByCertificate(cn)
			if err != nil {
				return nil, err
			}
			if other != "" {
				return nil, fmt.Errorf("account.certificate_common_name: %q signs in as %s already: %w", cn, accountName(other), ErrAlreadyExists)
			}
		}
		a := &banliv1.Account{
			Name:                  accountName(id),
			DisplayName:           in.GetDisplayName(),
			Role:                  in.GetRole(),
			Unit:                  in.GetUnit(),
			CertificateCommonName: in.GetCertificateCommonName(),
			Principal:             in.GetPrincipal(),
			Leader:                in.GetLeader(),
			Body:                  in.GetBody(),
			Level:                 in.GetLevel(),
			Active:                true,
			CreateTime:            timestamppb.New(now),
			KeyCreateTime:         timestamppb.New(now),
			KeyExpireTime:         keyExpiry(now, req.GetKeyTtlDays()),
			KeySha256:             sum,
			Etag:                  nextEtag(""),
		}
		tx.PutAccount(a, accountEvent(ctx, now, "CreateAccount", "", a, a.GetRole().String()))
		made = true
		// The stored answer (replayed for a retried request_id) holds no key.
		return &banliv1.AccountKey{Account: publicAccount(a)}, nil
	})
	s.signIns.forget(id)
	if err != nil {
		return nil, err
	}
	return withKey(res, key, made), nil
}

// checkAccountUnit checks that the unit an account acts for exists and is
// active.
func checkAccountUnit(tx store.Tx, unit string) error {
	if unit == "" {
		return nil
	}
	u, err := tx.Unit(idOf(unit, unitsCollection))
	if err != nil {
		return notFoundOr(err, unit, "account.unit")
	}
	if !u.GetActive() {
		return fmt.Errorf("account.unit: %s is deactivated: %w", unit, ErrPrecondition)
	}
	return nil
}

// withKey shows the new key in a fresh answer, never in a replayed one.
func withKey(res *banliv1.AccountKey, key string, made bool) *banliv1.AccountKey {
	out := proto.Clone(res).(*banliv1.AccountKey)
	if made {
		out.Key = key
	}
	return out
}

// GetAccount returns one account.
func (s *Server) GetAccount(ctx context.Context, req *banliv1.GetAccountRequest) (*banliv1.Account, error) {
	v := &violations{}
	id := v.accountID("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	a, err := s.account(id)
	if err != nil {
		return nil, err
	}
	return publicAccount(a), nil
}

// account reads an account for an answer: NOT_FOUND names it.
func (s *Server) account(id string) (*banliv1.Account, error) {
	a, err := s.readAccount(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, resourceNotFound(accountName(id), "")
	}
	return a, err
}

// readAccount reads an account as stored.
func (s *Server) readAccount(id string) (*banliv1.Account, error) {
	var a *banliv1.Account
	err := s.store.View(func(r store.Reader) error {
		var err error
		a, err = r.Account(id)
		return err
	})
	return a, err
}

// ListAccounts lists accounts by id.
func (s *Server) ListAccounts(ctx context.Context, req *banliv1.ListAccountsRequest) (*banliv1.ListAccountsResponse, error) {
	v := &violations{}
	v.pageSize(req.GetPageSize())
	after, err := parseCursorToken(req, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	resp := &banliv1.ListAccountsResponse{}
	err = s.store.View(func(r store.Reader) error {
		list, more, err := r.ListAccounts(string(after), pageSize(req.GetPageSize(), defaultAccountPage))
		for _, a := range list {
			resp.Accounts = append(resp.Accounts, publicAccount(a))
		}
		if more && len(list) > 0 {
			resp.NextPageToken = cursorToken(req, []byte(accountIDOf(list[len(list)-1].GetName())))
		}
		return err
	})
	return resp, err
}

// DisableAccount disables an account.
func (s *Server) DisableAccount(ctx context.Context, req *banliv1.DisableAccountRequest) (*banliv1.Account, error) {
	return s.changeAccount(ctx, "DisableAccount", req, req.GetName(), req.GetEtag(), func(a *banliv1.Account, now time.Time) (string, error) {
		if !a.GetActive() {
			return "", fmt.Errorf("%s is disabled already: %w", a.GetName(), ErrPrecondition)
		}
		if c, ok := CallerFrom(ctx); ok && c.Account == a.GetName() {
			return "", fmt.Errorf("an admin cannot disable its own account (another admin must): %w", ErrPrecondition)
		}
		a.Active, a.DisableTime = false, timestamppb.New(now)
		return "", nil
	})
}

// EnableAccount re-enables a disabled account.
func (s *Server) EnableAccount(ctx context.Context, req *banliv1.EnableAccountRequest) (*banliv1.Account, error) {
	return s.changeAccount(ctx, "EnableAccount", req, req.GetName(), req.GetEtag(), func(a *banliv1.Account, now time.Time) (string, error) {
		if a.GetActive() {
			return "", fmt.Errorf("%s is active already: %w", a.GetName(), ErrPrecondition)
		}
		// The key it had is revoked for good: an enabled account signs in
		// with a certificate, or after RotateAccountKey.
		a.Active, a.DisableTime, a.KeySha256 = true, nil, nil
		return "", nil
	})
}

// RotateAccountKey gives an account a new key.
func (s *Server) RotateAccountKey(ctx context.Context, req *banliv1.RotateAccountKeyRequest) (*banliv1.AccountKey, error) {
	v := &violations{}
	id := v.accountID("name", req.GetName())
	v.keyTTL("key_ttl_days", req.GetKeyTtlDays())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	key, sum := newKey(id)
	made := false
	res, err := write(ctx, s, banliv1.AccountService_RotateAccountKey_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.AccountKey, error) {
		a, err := loadAccount(tx, id, req.GetEtag())
		if err != nil {
			return nil, err
		}
		if !a.GetActive() {
			return nil, fmt.Errorf("%s is disabled: enable it first: %w", a.GetName(), ErrPrecondition)
		}
		a.KeySha256, a.KeyCreateTime, a.KeyExpireTime = sum, timestamppb.New(now), keyExpiry(now, req.GetKeyTtlDays())
		a.Etag = nextEtag(a.GetEtag())
		tx.PutAccount(a, accountEvent(ctx, now, "RotateAccountKey", "ACTIVE", a, ""))
		made = true
		return &banliv1.AccountKey{Account: publicAccount(a)}, nil
	})
	s.signIns.forget(id)
	if err != nil {
		return nil, err
	}
	return withKey(res, key, made), nil
}

// ListAccessRules returns the access table, method by method.
func (s *Server) ListAccessRules(ctx context.Context, req *banliv1.ListAccessRulesRequest) (*banliv1.ListAccessRulesResponse, error) {
	return accessTable(), nil
}

// GetCaller returns the caller's own account.
func (s *Server) GetCaller(ctx context.Context, req *banliv1.GetCallerRequest) (*banliv1.Account, error) {
	c, ok := CallerFrom(ctx)
	if !ok {
		return nil, fmt.Errorf("no one is signed in: %w", ErrUnauthenticated)
	}
	a, err := s.account(accountIDOf(c.Account))
	if err != nil {
		return nil, err
	}
	return publicAccount(a), nil
}

// changeAccount runs change on the named account and stages the result.
func (s *Server) changeAccount(ctx context.Context, method string, req mutatingRequest, name, etag string,
	change func(a *banliv1.Account, now time.Time) (details string, err error),
) (*banliv1.Account, error) {
	v := &violations{}
	id := v.accountID("name", name)
	v.mutation(etag, req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	defer s.signIns.forget(id)
	return write(ctx, s, accountService+method, req, func(tx store.Tx, now time.Time) (*banliv1.Account, error) {
		a, err := loadAccount(tx, id, etag)
		if err != nil {
			return nil, err
		}
		from := accountState(a)
		details, err := change(a, now)
		if err != nil {
			return nil, err
		}
		a.Etag = nextEtag(a.GetEtag())
		tx.PutAccount(a, accountEvent(ctx, now, method, from, a, details))
		return publicAccount(a), nil
	})
}

func loadAccount(tx store.Tx, id, etag string) (*banliv1.Account, error) {
	a, err := tx.Account(id)
	if err != nil {
		return nil, notFoundOr(err, accountName(id), "")
	}
	return a, checkEtag(etag, a.GetEtag(), a.GetName())
}

func accountEvent(ctx context.Context, now time.Time, action, from string, a *banliv1.Account, details string) *banliv1.Event {
	return newEvent(ctx, timestamppb.New(now), Step(action), "", from, accountState(a), details)
}

func accountState(a *banliv1.Account) string {
	if a.GetActive() {
		return "ACTIVE"
	}
	return "DISABLED"
}

// publicAccount is an account as the API shows it: without its key's hash.
func publicAccount(a *banliv1.Account) *banliv1.Account {
	out := proto.Clone(a).(*banliv1.Account)
	out.KeySha256 = nil
	return out
}

// BootstrapAdmin creates the first admin account, "admin", if there are no
// accounts yet. save receives its key before the account is committed; if
// save fails, no account is made. It reports whether it made one.
func (s *Server) BootstrapAdmin(ctx context.Context, save func(key string) error) (bool, error) {
	var exists bool
	if err := s.store.View(func(r store.Reader) error {
		var err error
		exists, err = r.HasAccounts()
		return err
	}); err != nil || exists {
		return false, err
	}
	const id = "admin"
	key, sum := newKey(id)
	_, err := s.commit(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
		if err := save(key); err != nil {
			return nil, err
		}
		now := s.now()
		a := &banliv1.Account{
			Name: accountName(id), DisplayName: "First administrator", Role: admin, Active: true,
			CreateTime: timestamppb.New(now), KeyCreateTime: timestamppb.New(now), KeySha256: sum, Etag: nextEtag(""),
		}
		tx.PutAccount(a, accountEvent(ctx, now, "BootstrapAdmin", "", a, "the first start created it"))
		rec := auditRecord(ctx, accountService+"BootstrapAdmin", a, now)
		rec.Outcome = "OK"
		tx.AppendAudit(rec)
		return a, nil
	})
	return err == nil, err
}
