package ui

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/server/session"
)

type loginData struct {
	Next  string
	Error string
	Token string
	User  string
}

// safeNext keeps the post-login redirect on this site: a path, never //host or a scheme.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := loginData{Next: safeNext(next), Error: msg, Token: session.LoginToken(w, r), User: r.PostFormValue("username")}
		u.render(w, r, &page{Title: "Log in", Template: "login", Status: status, Data: d})
	})).ServeHTTP(w, r)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := u.d.Sessions.Lookup(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.loginForm(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// login checks the form, limits failed attempts per client address and per user name, and
// starts a session.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		u.loginForm(w, r, http.StatusBadRequest, "/", "The form could not be read.")
		return
	}
	next := r.PostFormValue("next")
	if !session.CheckLoginToken(r) {
		u.loginForm(w, r, http.StatusForbidden, next, "The login form expired. Please try again.")
		return
	}
	name := strings.TrimSpace(strings.ToLower(r.PostFormValue("username")))
	password := r.PostFormValue("password")
	keys := []string{"addr:" + clientAddr(r), "user:" + name}
	if ok, wait := u.d.Limiter.Allow(keys...); !ok {
		secs := int(wait.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		u.record(r, audit.Entry{Actor: "anonymous", Action: "login", Target: "user/" + name, Outcome: "denied: rate limited"})
		u.loginForm(w, r, http.StatusTooManyRequests, next, fmt.Sprintf("Too many failed attempts. Try again in %d seconds.", secs))
		return
	}
	user, err := u.d.Users.Authenticate(r.Context(), name, password)
	if errors.Is(err, session.ErrBadCredentials) {
		u.d.Limiter.Fail(keys...)
		u.record(r, audit.Entry{Actor: "anonymous", Action: "login", Target: "user/" + name, Outcome: "failed: wrong user name or password"})
		u.loginForm(w, r, http.StatusUnauthorized, next, "Wrong user name or password.")
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if _, err := u.d.Sessions.Create(r.Context(), w, r, user.Name); err != nil {
		u.fail(w, r, err)
		return
	}
	u.record(r, audit.Entry{Actor: "user/" + user.Name, Role: user.Role, Action: "login", Target: "user/" + user.Name})
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionFrom(r)
	if err := u.d.Sessions.Destroy(r.Context(), w, r, s); err != nil {
		u.fail(w, r, err)
		return
	}
	u.record(r, audit.Entry{Action: "logout", Target: "user/" + s.User})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
