// Package webhook receives the webhooks of GitHub, Gitea (and Forgejo) and GitLab at
// POST /webhooks/{connection}: the body is read with a size cap, its signature checked over the raw
// bytes in constant time before anything parses it, and the verified event handed to the
// dispatcher, which records it and does the work after the sender has its answer.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/conveyorci/conveyor/executor/source"
)

// Signature headers.
const (
	headerHubSHA256 = "X-Hub-Signature-256" // GitHub, and Gitea's GitHub-compatible copy: sha256=<hex>
	headerGitea     = "X-Gitea-Signature"   // Gitea: bare hex
	headerForgejo   = "X-Forgejo-Signature" // Forgejo: bare hex
	headerGitLab    = "X-Gitlab-Token"      // GitLab: the shared secret itself
)

// schemes lists, per provider, the headers that may authenticate a delivery, in the order they are
// looked for; the first one present decides.
var schemes = map[string][]string{
	source.ProviderGitHub: {headerHubSHA256},
	source.ProviderGitea:  {headerGitea, headerForgejo, headerHubSHA256},
	source.ProviderGitLab: {headerGitLab},
	source.ProviderGit:    {headerHubSHA256, headerGitea, headerGitLab},
}

// ErrNoSecret is returned for connections without a webhook secret: every delivery is refused.
var ErrNoSecret = errors.New("the connection has no webhook secret, so Conveyor refuses its webhooks; give it one (conveyor connections create … --webhook-secret) and set the same secret on the forge's webhook")

// Verify checks that body was sent by someone who knows secret, as provider signs deliveries. It
// fails closed: no secret, no signature header, an empty one (Gitea sends empty headers when the
// hook has no secret) or a malformed one are all refusals. Comparisons take constant time.
func Verify(provider string, secret []byte, h http.Header, body []byte) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	names, ok := schemes[provider]
	if !ok {
		return fmt.Errorf("unknown provider %q", provider)
	}
	for _, name := range names {
		values := h.Values(name)
		if len(values) == 0 {
			continue
		}
		if len(values) > 1 {
			return fmt.Errorf("%d %s headers: a delivery carries one signature", len(values), name)
		}
		v := strings.TrimSpace(values[0])
		if v == "" {
			return fmt.Errorf("the %s header is empty: the webhook on the forge has no secret; set it to the connection's webhook secret", name)
		}
		switch name {
		case headerGitLab:
			// The token is the secret itself; comparing digests keeps the time independent of both
			// the content and the length.
			a, b := sha256.Sum256([]byte(v)), sha256.Sum256(secret)
			if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
				return fmt.Errorf("the %s header does not match the connection's webhook secret", name)
			}
			return nil
		case headerHubSHA256:
			hexSig, ok := strings.CutPrefix(v, "sha256=")
			if !ok {
				return fmt.Errorf("the %s header does not start with sha256=", name)
			}
			return checkHMAC(name, secret, body, hexSig)
		default:
			return checkHMAC(name, secret, body, v)
		}
	}
	return fmt.Errorf("the delivery is not signed (no %s header): Conveyor accepts only signed webhooks; set the webhook's secret on the forge", strings.Join(names, " or "))
}

func checkHMAC(header string, secret, body []byte, hexSig string) error {
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("the %s header is not a hex SHA-256 signature", header)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return fmt.Errorf("the %s signature does not match: the webhook's secret differs from the connection's, or the body was changed", header)
	}
	return nil
}
