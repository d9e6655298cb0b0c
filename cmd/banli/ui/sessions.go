package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The session cookie, and how long a session lasts: a working day at
// most, and an hour without use.
const (
	sessionCookie = "banli_session"
	// loginCookie holds the sign-in form's token before there is a session.
	loginCookie = "banli_login"
	sessionLife = 9 * time.Hour
	sessionIdle = time.Hour
	maxSessions = 10000
)

// session is one browser's sign-in. Sessions live in the server's memory
// only: a restart signs everyone out, and the API key never leaves the
// server again once it is exchanged.
type session struct {
	id string
	// csrf is the token every form of the session carries.
	csrf string
	// key is the API key signed in with; certificate, the client
	// certificate's common name when signed in by certificate instead.
	key, certificate string
	account          *banliv1.Account
	// may is every method the account's role may call (ListAccessRules).
	may     map[string]bool
	created time.Time

	mu       sync.Mutex
	lastSeen time.Time
	// flash is the outcome of the last step, shown once on the next page.
	flash *flash
}

// flash is a step's outcome, shown on the page the step returns to.
type flash struct {
	Message string
	Failed  bool
	Details []string
}

func (s *session) validToken(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

func (s *session) setFlash(f *flash) {
	s.mu.Lock()
	s.flash = f
	s.mu.Unlock()
}

// takeFlash returns the flash and forgets it.
func (s *session) takeFlash() *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// sessionTable holds the live sessions.
type sessionTable struct {
	now func() time.Time
	mu  sync.Mutex
	all map[string]*session
}

func newSessionTable(now func() time.Time) *sessionTable {
	return &sessionTable{now: now, all: map[string]*session{}}
}

// randomToken is 32 random bytes, for session ids and form tokens.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start opens a session for an account signed in with key (or by
// certificate); false when the table is full of live sessions.
func (t *sessionTable) start(account *banliv1.Account, may map[string]bool, key, certificate string) (*session, bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.all) >= maxSessions {
		for id, s := range t.all {
			if t.expired(s, now) {
				delete(t.all, id)
			}
		}
		if len(t.all) >= maxSessions {
			return nil, false
		}
	}
	s := &session{id: randomToken(), csrf: randomToken(), key: key, certificate: certificate, account: account, may: may, created: now, lastSeen: now}
	t.all[s.id] = s
	return s, true
}

func (t *sessionTable) expired(s *session, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Sub(s.created) > sessionLife || now.Sub(s.lastSeen) > sessionIdle
}

// fromRequest is the live session the request's cookie names, if any. A
// session signed in by certificate holds only while the request presents
// that certificate.
func (t *sessionTable) fromRequest(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	now := t.now()
	t.mu.Lock()
	s := t.all[c.Value]
	if s != nil && t.expired(s, now) {
		delete(t.all, s.id)
		s = nil
	}
	t.mu.Unlock()
	if s == nil || (s.certificate != "" && clientCertificate(r) != s.certificate) {
		return nil
	}
	s.mu.Lock()
	s.lastSeen = now
	s.mu.Unlock()
	return s
}

func (t *sessionTable) end(s *session) {
	t.mu.Lock()
	delete(t.all, s.id)
	t.mu.Unlock()
}

// cookie is a cookie of the page's: HttpOnly, SameSite=Strict, for /ui/
// only, Secure under TLS.
func cookie(r *http.Request, name, value string, life time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
	if life < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(life / time.Second)
	}
	return c
}
