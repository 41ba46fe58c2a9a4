package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Key is what the verifier needs of an access key.
type Key struct {
	ID     string
	Secret string
	Role   Role
}

// KeyLookup finds an access key by id; ok=false when it does not exist.
type KeyLookup func(ctx context.Context, id string) (k Key, ok bool, err error)

// Error is an authentication failure in the shape AWS answers with.
type Error struct {
	Type    string // UnrecognizedClientException, InvalidSignatureException, MissingAuthenticationTokenException, IncompleteSignatureException
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// MaxSkew is how far a request's X-Amz-Date may be from the server clock.
const MaxSkew = 15 * time.Minute

// MaxSignedBody caps a body that must be read in full to be hashed (JSON API requests).
const MaxSignedBody = 16 << 20

// Verifier checks SigV4 signatures.
type Verifier struct {
	Lookup KeyLookup
	Now    func() time.Time
}

const amzDateFormat = "20060102T150405Z"

type parsedAuth struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

func parseAuthorization(h string) (parsedAuth, *Error) {
	var p parsedAuth
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return p, &Error{"IncompleteSignatureException", "Authorization header must use AWS4-HMAC-SHA256", http.StatusBadRequest}
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return p, &Error{"IncompleteSignatureException", "Credential must be AKID/date/region/service/aws4_request", http.StatusBadRequest}
			}
			p.keyID, p.date, p.region, p.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			p.signedHeaders = strings.Split(v, ";")
		case "Signature":
			p.signature = v
		}
	}
	if p.keyID == "" || len(p.signedHeaders) == 0 || p.signature == "" {
		return p, &Error{"IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature", http.StatusBadRequest}
	}
	return p, nil
}

// Verify authenticates a SigV4-signed request. When the body is hashed in full, r.Body is replaced
// by the bytes read; when the client declared X-Amz-Content-Sha256, r.Body is wrapped so reading it
// to the end fails if the content does not match what was signed.
func (v *Verifier) Verify(r *http.Request) (Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Identity{}, &Error{"MissingAuthenticationTokenException", "Missing Authentication Token", http.StatusForbidden}
	}
	p, aerr := parseAuthorization(h)
	if aerr != nil {
		return Identity{}, aerr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil || !strings.HasPrefix(amzDate, p.date) {
		return Identity{}, &Error{"IncompleteSignatureException", "X-Amz-Date must be present, in " + amzDateFormat + " form, and match the credential scope date", http.StatusBadRequest}
	}
	now := v.Now().UTC()
	if t.Before(now.Add(-MaxSkew)) {
		return Identity{}, &Error{"InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat)), http.StatusBadRequest}
	}
	if t.After(now.Add(MaxSkew)) {
		return Identity{}, &Error{"InvalidSignatureException", fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat)), http.StatusBadRequest}
	}
	key, ok, err := v.Lookup(r.Context(), p.keyID)
	if err != nil {
		return Identity{}, err
	}
	if !ok {
		return Identity{}, &Error{"UnrecognizedClientException", "The security token included in the request is invalid.", http.StatusBadRequest}
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case payloadHash == "UNSIGNED-PAYLOAD":
	case payloadHash != "":
		if _, err := hex.DecodeString(payloadHash); err != nil || len(payloadHash) != 64 {
			return Identity{}, &Error{"InvalidSignatureException", "X-Amz-Content-Sha256 must be a hex SHA-256 or UNSIGNED-PAYLOAD", http.StatusBadRequest}
		}
		r.Body = &hashCheckingBody{r: r.Body, h: sha256.New(), want: payloadHash}
	default:
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxSignedBody+1))
		if err != nil {
			return Identity{}, fmt.Errorf("read request body: %w", err)
		}
		if len(body) > MaxSignedBody {
			return Identity{}, &Error{"SerializationException", "Request body larger than 16 MiB", http.StatusRequestEntityTooLarge}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(sum[:])
	}
	canonical := canonicalRequest(r, p.signedHeaders, payloadHash)
	scope := strings.Join([]string{p.date, p.region, p.service, "aws4_request"}, "/")
	crHash := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])
	k := hmacSHA256([]byte("AWS4"+key.Secret), p.date)
	k = hmacSHA256(k, p.region)
	k = hmacSHA256(k, p.service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p.signature))) != 1 {
		return Identity{}, &Error{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.", http.StatusBadRequest}
	}
	return Identity{Name: "key/" + key.ID, Role: key.Role}, nil
}

// VerifyBasic authenticates HTTP Basic credentials made of an access key id and its secret.
func (v *Verifier) VerifyBasic(r *http.Request) (Identity, error) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return Identity{}, &Error{"MissingAuthenticationTokenException", "Missing Authentication Token", http.StatusUnauthorized}
	}
	key, found, err := v.Lookup(r.Context(), id)
	if err != nil {
		return Identity{}, err
	}
	// Compare even when the key is unknown, so timing does not reveal which ids exist.
	want := key.Secret
	if !found {
		want = "\x00unknown-key"
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 || !found {
		return Identity{}, &Error{"UnrecognizedClientException", "The security token included in the request is invalid.", http.StatusUnauthorized}
	}
	return Identity{Name: "key/" + key.ID, Role: key.Role}, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func canonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(escapePath(path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	names := append([]string(nil), signed...)
	sort.Strings(names)
	for _, n := range names {
		n = strings.ToLower(n)
		var vals []string
		switch n {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{fmt.Sprint(r.ContentLength)}
			}
		default:
			vals = r.Header.Values(n)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(n + ":" + strings.Join(vals, ",") + "\n")
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(names, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// escapePath encodes a path as SigV4 wants for every service but S3: the (already escaped) path is
// escaped once more, keeping '/' and RFC 3986 unreserved characters.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if isUnreserved(c) || c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

func canonicalQuery(q url.Values) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, kv{uriEncode(k), uriEncode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ErrPayloadMismatch is returned at the end of a body whose SHA-256 differs from the signed one.
var ErrPayloadMismatch = errors.New("request body does not match X-Amz-Content-Sha256")

type hashCheckingBody struct {
	r    io.ReadCloser
	h    hash.Hash
	want string
}

func (b *hashCheckingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	if errors.Is(err, io.EOF) && hex.EncodeToString(b.h.Sum(nil)) != b.want {
		return n, ErrPayloadMismatch
	}
	return n, err
}

func (b *hashCheckingBody) Close() error { return b.r.Close() }
