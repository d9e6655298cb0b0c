// Package ui is Banli's dashboard page (/ui/): the overview, the ledger
// (台账), a case, the statistics, and the daily steps, in Chinese, drawn on
// the server with html/template and SVG, with no script and nothing
// loaded from elsewhere, for offices on networks with no internet.
//
// The page is a client of the API like any other: it signs in with the
// caller's API key (or client certificate), keeps it behind a session
// cookie, and makes every read and step as a gRPC call over the server's
// in-memory connection, so that the access table, the audit trail and the
// rate limit apply to the page exactly as to REST and gRPC. Of the
// service it takes only the gateway's metadata names, the catalogue of
// labels (service/i18n) and the spreadsheet writers; it never reads the
// store.
package ui

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
)

//go:embed templates/*.html static/*
var files embed.FS

// Prefix is where the page is served on the HTTP listener.
const Prefix = "/ui/"

// callTimeout bounds each call a page makes.
const callTimeout = 10 * time.Second

// Handler serves the page.
type Handler struct {
	conn     *grpc.ClientConn
	sessions *sessionTable
	pages    map[string]*template.Template
	now      func() time.Time
	mux      *http.ServeMux
}

// New builds the page. It dials the gRPC server with dial, the in-memory
// listener the REST gateway uses; now is the clock (nil: time.Now).
func New(dial func(context.Context) (net.Conn, error), now func() time.Time) (*Handler, error) {
	if now == nil {
		now = time.Now
	}
	conn, err := grpc.NewClient("passthrough:///banli-ui",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dial(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		return nil, fmt.Errorf("dashboard page: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		conn.Close()
		return nil, err
	}
	h := &Handler{conn: conn, sessions: newSessionTable(now), pages: pages, now: now, mux: http.NewServeMux()}
	h.routes()
	return h, nil
}

// Close closes the page's connection to the server.
func (h *Handler) Close() error { return h.conn.Close() }

func (h *Handler) routes() {
	static := http.FileServerFS(files)
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui", cacheable(static)))
	h.mux.HandleFunc("GET /ui/login", h.loginPage)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.Handle("POST /ui/logout", h.signedIn(h.logout))
	h.mux.Handle("GET /ui/{$}", h.signedIn(h.overview))
	h.mux.Handle("GET /ui/ledger", h.signedIn(h.ledger))
	h.mux.Handle("GET /ui/ledger/download", h.signedIn(h.ledgerDownload))
	h.mux.Handle("GET /ui/statistics", h.signedIn(h.statistics))
	h.mux.Handle("GET /ui/proposals/{id}", h.signedIn(h.proposal))
	h.mux.Handle("GET /ui/proposals/{id}/files/{file}", h.signedIn(h.file))
	for name, step := range caseSteps {
		h.mux.Handle("POST /ui/proposals/{id}/"+name, h.signedIn(h.step(step.do)))
	}
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, http.StatusNotFound, "error", &page{Title: "页面不存在"}, errorData{Message: "没有这个页面。"})
	})
}

// ServeHTTP serves a request under Prefix, with the security headers
// every answer carries.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// No script at all, no framing, nothing from another origin; forms
	// post only here.
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser posts
	// forms with "Origin: null", which sameOrigin cannot tell from a
	// sandboxed page's.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
		hd.Set("Cache-Control", "no-store")
	}
	if r.Method == http.MethodPost && !sameOrigin(r) {
		h.render(w, r, http.StatusForbidden, "error", &page{Title: "请求被拒绝"}, errorData{Message: "表单来自别的网站，已拒绝。"})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// sameOrigin refuses a form posted from another site: a browser says so
// in Sec-Fetch-Site, and names the page a form came from in Origin. SameSite
// cookies and the form's token refuse it too; this is the third lock.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == "" // no Origin: an older browser; the token decides
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return origin == scheme+r.Host
}

func cacheable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// caller is a signed-in request: its session and the context its calls
// carry.
type caller struct {
	session *session
	ctx     context.Context
}

func (c *caller) account() *banliv1.Account { return c.session.account }

// may reports whether the access table lets the caller's role make the
// call (read at sign-in, ListAccessRules): what the page offers to do.
// The server decides each call whatever the page offers.
func (c *caller) may(method string) bool { return c.session.may[method] }

// ownUnit is the unit the caller's account acts for, if any: its pages
// are that unit's (the server narrows them there anyway).
func (c *caller) ownUnit() string { return c.session.account.GetUnit() }

// signedIn runs fn for a request with a live session, and sends anyone
// else to the sign-in page. A POST must carry the session's form token.
func (h *Handler) signedIn(fn func(w http.ResponseWriter, r *http.Request, c *caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := h.sessions.fromRequest(r)
		if s == nil {
			if r.Method != http.MethodGet {
				h.render(w, r, http.StatusUnauthorized, "error", &page{Title: "请先登录"}, errorData{Message: "登录已失效，请重新登录。"})
				return
			}
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !s.validToken(r.PostFormValue("csrf")) {
			h.render(w, r, http.StatusForbidden, "error", &page{Title: "请求被拒绝", session: s}, errorData{Message: "表单已过期或来源不明（缺少校验码），请返回页面重试。"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		fn(w, r, &caller{session: s, ctx: s.outgoing(ctx, r)})
	})
}

// outgoing is the context of a call made for the session's account: its
// credential, the browser's address, and Chinese for the messages.
func (s *session) outgoing(ctx context.Context, r *http.Request) context.Context {
	md := metadata.Pairs("accept-language", "zh-CN", service.GatewaySourceHeader, r.RemoteAddr)
	if s.key != "" {
		md.Set("authorization", "Bearer "+s.key)
	}
	if s.certificate != "" {
		md.Set(service.GatewayClientCertHeader, s.certificate)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// clientCertificate is the common name of the request's verified client
// certificate, if it has one.
func clientCertificate(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}
