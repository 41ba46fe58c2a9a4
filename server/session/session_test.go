package session

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	u := &Users{DB: openDB(t), Cost: bcrypt.MinCost}
	if _, err := u.Create(ctx, "Alice", "password1", auth.RoleAdmin); err == nil {
		t.Fatal("upper-case names are refused")
	}
	if _, err := u.Create(ctx, "alice", "short", auth.RoleAdmin); err == nil {
		t.Fatal("short passwords are refused")
	}
	rec, err := u.Create(ctx, "alice", "password1", auth.RoleAdmin)
	if err != nil || rec.Role != "admin" || !strings.HasPrefix(rec.PasswordHash, "$2") {
		t.Fatalf("Create = %+v, %v", rec, err)
	}
	var ie *InputError
	if _, err := u.Create(ctx, "alice", "password2", auth.RoleViewer); !errors.As(err, &ie) || !ie.Conflict {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := u.Authenticate(ctx, "alice", "password1"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for _, c := range [][2]string{{"alice", "wrong-password"}, {"nobody", "password1"}} {
		if _, err := u.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("Authenticate(%s): %v, want ErrBadCredentials", c[0], err)
		}
	}
	// The last admin cannot be demoted or deleted.
	if err := u.SetRole(ctx, "alice", auth.RoleViewer); !errors.As(err, &ie) {
		t.Fatalf("demoting the last admin: %v", err)
	}
	if err := u.Delete(ctx, "alice"); !errors.As(err, &ie) {
		t.Fatalf("deleting the last admin: %v", err)
	}
	if _, err := u.Create(ctx, "bob", "password2", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := u.SetRole(ctx, "alice", auth.RoleApprover); err != nil {
		t.Fatalf("demoting one of two admins: %v", err)
	}
	if err := u.SetPassword(ctx, "alice", "new-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Authenticate(ctx, "alice", "password1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal("the old password must stop working")
	}
	if err := u.Delete(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing user: %v", err)
	}
}

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "admin-credentials")
	if err := auth.WriteCredentialsFile(file, map[string]string{"aws_access_key_id": "AKIAX"}); err != nil {
		t.Fatal(err)
	}
	u := &Users{DB: openDB(t), Cost: bcrypt.MinCost}
	res, err := u.EnsureAdmin(ctx, "", file)
	if err != nil || !res.Created || res.Password == "" {
		t.Fatalf("EnsureAdmin = %+v, %v", res, err)
	}
	vals, err := auth.ReadCredentialsFile(file)
	if err != nil || vals["admin_password"] != res.Password || vals["aws_access_key_id"] != "AKIAX" {
		t.Fatalf("credentials file = %v, %v (the key must be kept)", vals, err)
	}
	if _, err := u.Authenticate(ctx, AdminUser, res.Password); err != nil {
		t.Fatalf("log in with the generated password: %v", err)
	}
	if again, err := u.EnsureAdmin(ctx, "other-password", file); err != nil || again.Created {
		t.Fatalf("second EnsureAdmin must leave users alone: %+v, %v", again, err)
	}
	u2 := &Users{DB: openDB(t), Cost: bcrypt.MinCost}
	if _, err := u2.EnsureAdmin(ctx, "short", file); err == nil {
		t.Fatal("a too short CONVEYOR_ADMIN_PASSWORD must be refused")
	}
	if res, err := u2.EnsureAdmin(ctx, "from-the-environment", filepath.Join(dir, "other")); err != nil || res.File != "" {
		t.Fatalf("EnsureAdmin with a given password writes no file: %+v, %v", res, err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	u := &Users{DB: db, Cost: bcrypt.MinCost}
	if _, err := u.Create(ctx, "carol", "password1", auth.RoleOperator); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := &Manager{DB: db, Idle: time.Hour, Absolute: 3 * time.Hour, Now: func() time.Time { return now }}

	req := httptest.NewRequest(http.MethodPost, "https://ci.example.com/login", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	rec := httptest.NewRecorder()
	s, err := m.Create(ctx, rec, req, "carol")
	if err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	if cookie.Name != CookieName || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || len(cookie.Value) < 40 {
		t.Fatalf("cookie = %+v: want HttpOnly, Secure behind TLS, SameSite=Lax, a long random value", cookie)
	}
	if s.Identity() != (auth.Identity{Name: "user/carol", Role: auth.RoleOperator}) {
		t.Fatalf("identity = %+v", s.Identity())
	}
	with := func(method string, c *http.Cookie, csrf string) *http.Request {
		r := httptest.NewRequest(method, "/api/v1/keys", nil)
		if c != nil {
			r.AddCookie(c)
		}
		if csrf != "" {
			r.Header.Set(CSRFHeader, csrf)
		}
		return r
	}
	if got, ok, err := m.Lookup(with(http.MethodGet, cookie, "")); !ok || err != nil || got.User != "carol" {
		t.Fatalf("Lookup = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := m.Lookup(with(http.MethodGet, &http.Cookie{Name: CookieName, Value: "forged"}, "")); ok {
		t.Fatal("an unknown cookie must not authenticate")
	}
	if _, ok, err := m.AuthenticateSession(with(http.MethodDelete, cookie, "")); ok || !errors.Is(err, ErrCSRF) {
		t.Fatalf("a change without the CSRF token: ok=%v err=%v", ok, err)
	}
	if _, ok, err := m.AuthenticateSession(with(http.MethodDelete, cookie, "wrong")); ok || err == nil {
		t.Fatal("a wrong CSRF token must be refused")
	}
	if id, ok, err := m.AuthenticateSession(with(http.MethodDelete, cookie, s.CSRF)); !ok || err != nil || id.Role != auth.RoleOperator {
		t.Fatalf("with the token: %+v %v %v", id, ok, err)
	}
	if _, ok, err := m.AuthenticateSession(with(http.MethodGet, nil, "")); ok || err != nil {
		t.Fatal("no cookie: no session, no error (other credentials may follow)")
	}

	// Use within the idle time slides the expiry; the absolute limit ends it anyway.
	now = now.Add(50 * time.Minute)
	if _, ok, _ := m.Lookup(with(http.MethodGet, cookie, "")); !ok {
		t.Fatal("a session used within the idle time must live on")
	}
	now = now.Add(50 * time.Minute)
	if _, ok, _ := m.Lookup(with(http.MethodGet, cookie, "")); !ok {
		t.Fatal("touching must have extended the idle expiry")
	}
	now = now.Add(2 * time.Hour)
	if _, ok, _ := m.Lookup(with(http.MethodGet, cookie, "")); ok {
		t.Fatal("a session past the absolute limit must end")
	}

	// Logging out ends the session and clears the cookie.
	now = time.Now()
	rec = httptest.NewRecorder()
	s, _ = m.Create(ctx, rec, httptest.NewRequest(http.MethodPost, "/login", nil), "carol")
	cookie = rec.Result().Cookies()[0]
	if cookie.Secure {
		t.Fatal("plain HTTP without a proxy header: no Secure flag (the cookie would never come back)")
	}
	rec = httptest.NewRecorder()
	if err := m.Destroy(ctx, rec, with(http.MethodPost, cookie, ""), s); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies()[0]; c.MaxAge >= 0 {
		t.Fatalf("logout cookie = %+v, want it deleted", c)
	}
	if _, ok, _ := m.Lookup(with(http.MethodGet, cookie, "")); ok {
		t.Fatal("the session must be gone after logout")
	}
}

func TestCSRFFormFieldAndLoginToken(t *testing.T) {
	s := Session{CSRF: "tok"}
	form := func(v string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(url.Values{CSRFField: {v}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	if !s.CheckCSRF(form("tok"), true) || s.CheckCSRF(form("tok"), false) || s.CheckCSRF(form("other"), true) || s.CheckCSRF(form(""), true) {
		t.Fatal("the form field counts only where forms are allowed, and must match")
	}
	rec := httptest.NewRecorder()
	token := LoginToken(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	c := rec.Result().Cookies()[0]
	r := form(token)
	r.AddCookie(c)
	if !CheckLoginToken(r) {
		t.Fatal("the login form's token must match its cookie")
	}
	r = form(token)
	if CheckLoginToken(r) {
		t.Fatal("without the cookie the login token is refused (login CSRF)")
	}
}

func TestSecure(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if Secure(r) {
		t.Fatal("plain request")
	}
	r.TLS = &tls.ConnectionState{}
	if !Secure(r) {
		t.Fatal("TLS request")
	}
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Forwarded-Proto", "HTTPS, http")
	if !Secure(r) {
		t.Fatal("behind a TLS proxy (first hop counts)")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Now()
	l := &Limiter{Burst: 3, Every: 10 * time.Second, Now: func() time.Time { return now }}
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("addr:1", "user:a"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
		l.Fail("addr:1", "user:a")
	}
	ok, wait := l.Allow("addr:1", "user:a")
	if ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("after the burst: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Allow("addr:2", "user:b"); !ok {
		t.Fatal("other keys are not limited")
	}
	if ok, _ := l.Allow("addr:2", "user:a"); ok {
		t.Fatal("the user name is limited from any address")
	}
	now = now.Add(10 * time.Second)
	if ok, _ := l.Allow("addr:1", "user:a"); !ok {
		t.Fatal("one attempt refills after Every")
	}
}
