package ui

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// loginData is what the sign-in page shows.
type loginData struct {
	// Token is the form's token, also in loginCookie (a sign-in form
	// posted from elsewhere has neither).
	Token string
	// Certificate is the common name of the browser's client certificate,
	// if it presented one: it may sign in with that instead of a key.
	Certificate string
	Message     string
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if h.sessions.fromRequest(r) != nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.showLogin(w, r, http.StatusOK, "")
}

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, code int, message string) {
	token := randomToken()
	http.SetCookie(w, cookie(r, loginCookie, token, sessionIdle))
	h.render(w, r, code, "login", &page{Title: "登录"}, loginData{Token: token, Certificate: clientCertificate(r), Message: message})
}

// login exchanges an API key (or the client certificate) for a session:
// the server says whose it is (GetCaller), and the page keeps it.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	token := r.PostFormValue("token")
	c, err := r.Cookie(loginCookie)
	if err != nil || token == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(token)) != 1 {
		h.showLogin(w, r, http.StatusForbidden, "登录表单已过期，请重新输入。")
		return
	}
	key, certificate := strings.TrimSpace(r.PostFormValue("key")), ""
	if r.PostFormValue("method") == "certificate" {
		key, certificate = "", clientCertificate(r)
	}
	if key == "" && certificate == "" {
		h.showLogin(w, r, http.StatusBadRequest, "请输入 API 密钥。")
		return
	}
	probe := &session{key: key, certificate: certificate}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	accounts := banliv1.NewAccountServiceClient(h.conn)
	account, err := accounts.GetCaller(probe.outgoing(ctx, r), &banliv1.GetCallerRequest{})
	var rules *banliv1.ListAccessRulesResponse
	if err == nil {
		rules, err = accounts.ListAccessRules(probe.outgoing(ctx, r), &banliv1.ListAccessRulesRequest{})
	}
	if err != nil {
		code, message, _ := explain(err)
		h.showLogin(w, r, code, message)
		return
	}
	may := map[string]bool{}
	for _, rule := range rules.GetRules() {
		may[rule.GetMethod()] = slices.Contains(rule.GetRoles(), account.GetRole())
	}
	s, ok := h.sessions.start(account, may, key, certificate)
	if !ok {
		h.showLogin(w, r, http.StatusServiceUnavailable, "登录人数已满，请稍后再试。")
		return
	}
	http.SetCookie(w, cookie(r, loginCookie, "", -1))
	http.SetCookie(w, cookie(r, sessionCookie, s.id, sessionLife))
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c *caller) {
	h.sessions.end(c.session)
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
