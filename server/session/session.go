package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

// Cookie and form names.
const (
	CookieName      = "conveyor_session"
	LoginCookieName = "conveyor_login" // binds the login form's CSRF token before a session exists
	CSRFField       = "csrf_token"
	CSRFHeader      = "X-CSRF-Token"
)

// Defaults for session lifetimes.
const (
	DefaultIdle     = 12 * time.Hour
	DefaultAbsolute = 7 * 24 * time.Hour
	touchEvery      = time.Minute
)

// Manager creates, finds and ends sessions.
type Manager struct {
	DB  *store.DB
	Log *slog.Logger
	// Idle ends a session nobody used for this long; Absolute ends any session this long after
	// login.
	Idle, Absolute time.Duration
	Now            func() time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) idle() time.Duration {
	if m.Idle > 0 {
		return m.Idle
	}
	return DefaultIdle
}

func (m *Manager) absolute() time.Duration {
	if m.Absolute > 0 {
		return m.Absolute
	}
	return DefaultAbsolute
}

// Session is a logged-in browser.
type Session struct {
	idHash   string
	User     string
	Role     auth.Role
	CSRF     string
	created  time.Time
	lastSeen time.Time
}

// Identity is the session's caller, as the rest of the server names callers.
func (s Session) Identity() auth.Identity { return auth.Identity{Name: "user/" + s.User, Role: s.Role} }

// RandomToken returns 32 random bytes, base64url.
func RandomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Secure reports whether the request reached Conveyor over TLS, directly or through a proxy that
// says so (X-Forwarded-Proto). Cookies are then marked Secure.
func Secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

// Create starts a session for user and sets its cookie.
func (m *Manager) Create(ctx context.Context, w http.ResponseWriter, r *http.Request, user string) (Session, error) {
	token := RandomToken()
	now := m.now()
	rec := store.Session{IDHash: hashToken(token), User: user, CSRFToken: RandomToken(), Expires: now.Add(m.idle()),
		RemoteAddr: r.RemoteAddr, UserAgent: clipUA(r.UserAgent())}
	if err := m.DB.Write(ctx, func(tx *store.Tx) error { return tx.CreateSession(ctx, rec) }); err != nil {
		return Session{}, err
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true, Secure: Secure(r),
		SameSite: http.SameSiteLaxMode, Expires: now.Add(m.absolute())})
	s, err := m.DB.Read().GetSession(ctx, rec.IDHash)
	if err != nil {
		return Session{}, err
	}
	return fromRecord(s), nil
}

func clipUA(s string) string {
	if len(s) > 256 {
		return s[:256]
	}
	return s
}

func fromRecord(s store.Session) Session {
	role, _ := auth.ParseRole(s.Role)
	return Session{idHash: s.IDHash, User: s.User, Role: role, CSRF: s.CSRFToken, created: s.Created, lastSeen: s.LastSeen}
}

// Lookup returns the request's session; ok is false when it has none (or it expired).
func (m *Manager) Lookup(r *http.Request) (Session, bool, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return Session{}, false, nil
	}
	ctx := r.Context()
	rec, err := m.DB.Read().GetSession(ctx, hashToken(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	s := fromRecord(rec)
	now := m.now()
	if now.Sub(s.created) > m.absolute() {
		return Session{}, false, nil
	}
	if now.Sub(s.lastSeen) > touchEvery {
		expires := now.Add(m.idle())
		if limit := s.created.Add(m.absolute()); expires.After(limit) {
			expires = limit
		}
		// Best effort: a failed touch only shortens the session.
		if err := m.DB.Write(ctx, func(tx *store.Tx) error { return tx.TouchSession(ctx, s.idHash, expires) }); err != nil && m.Log != nil {
			m.Log.Warn("session touch", "err", err)
		}
	}
	return s, true, nil
}

// Destroy ends the request's session and clears its cookie.
func (m *Manager) Destroy(ctx context.Context, w http.ResponseWriter, r *http.Request, s Session) error {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: Secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return m.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteSession(ctx, s.idHash) })
}

// Prune removes expired sessions.
func (m *Manager) Prune(ctx context.Context) (int64, error) {
	var n int64
	err := m.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		n, err = tx.DeleteExpiredSessions(ctx)
		return err
	})
	return n, err
}

// Safe reports whether a method only reads (no CSRF token needed).
func Safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// CheckCSRF compares the token a request carries (header, else form field) with the session's,
// in constant time.
func (s Session) CheckCSRF(r *http.Request, allowForm bool) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" && allowForm {
		got = r.PostFormValue(CSRFField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// ErrCSRF refuses a request that changes state without the session's CSRF token.
var ErrCSRF = &auth.Error{Type: "InvalidCsrfTokenException",
	Message: "this request changes state and must carry the session's CSRF token (X-CSRF-Token)", Status: http.StatusForbidden}

// AuthenticateSession implements server.SessionAuthenticator for the REST extras: the session
// cookie authenticates, and requests that change state must carry X-CSRF-Token.
func (m *Manager) AuthenticateSession(r *http.Request) (auth.Identity, bool, error) {
	s, ok, err := m.Lookup(r)
	if err != nil || !ok {
		return auth.Identity{}, false, err
	}
	if !Safe(r.Method) && !s.CheckCSRF(r, false) {
		return auth.Identity{}, false, ErrCSRF
	}
	return s.Identity(), true, nil
}

// LoginToken returns the token the login form must echo, setting its cookie when the browser has
// none yet (login CSRF: a foreign site cannot log a browser into another account).
func LoginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(LoginCookieName); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		return c.Value
	}
	token := RandomToken()
	http.SetCookie(w, &http.Cookie{Name: LoginCookieName, Value: token, Path: "/", HttpOnly: true, Secure: Secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int((24 * time.Hour).Seconds())})
	return token
}

// CheckLoginToken verifies the login form's token against its cookie.
func CheckLoginToken(r *http.Request) bool {
	c, err := r.Cookie(LoginCookieName)
	got := r.PostFormValue(CSRFField)
	return err == nil && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}
