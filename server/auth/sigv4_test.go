package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var testKey = Key{ID: "AKIATEST", Secret: "s3cr3t", Role: RoleOperator}

func testVerifier(now time.Time) *Verifier {
	return &Verifier{Now: func() time.Time { return now }, Lookup: func(_ context.Context, id string) (Key, bool, error) {
		if id == testKey.ID {
			return testKey, true, nil
		}
		return Key{}, false, nil
	}}
}

// signed builds a request as a server receives it, signed by the AWS SDK's own signer.
func signed(t *testing.T, method, target string, body []byte, at time.Time, declareHash bool, secret string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.Header.Set("X-Amz-Target", "CodePipeline_20150709.ListPipelines")
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	if declareHash {
		r.Header.Set("X-Amz-Content-Sha256", h)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey.ID, SecretAccessKey: secret},
		r, h, "codepipeline", "local", at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyAcceptsWhatTheSDKSigns(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	v := testVerifier(now)
	for _, target := range []string{
		"http://conveyor.local/",
		"http://conveyor.local/api/v1/buckets/b/objects/dir/file%20name+x.zip",
		"http://conveyor.local/api/v1/buckets/b/versions/k?limit=5&a=1&a=0&b=x%2Fy",
		"http://127.0.0.1:8080/api/v1/artifacts/abc?x=%E2%9C%93",
	} {
		for _, declare := range []bool{false, true} {
			r := signed(t, http.MethodPost, target, []byte(`{"x":1}`), now.Add(-time.Minute), declare, testKey.Secret)
			id, err := v.Verify(r)
			if err != nil {
				t.Fatalf("%s (declared hash %v): %v", target, declare, err)
			}
			if id.Name != "key/AKIATEST" || id.Role != RoleOperator {
				t.Errorf("identity = %+v", id)
			}
			if b, _ := io.ReadAll(r.Body); string(b) != `{"x":1}` {
				t.Errorf("the body must still be readable after verification, got %q", b)
			}
		}
	}
}

func TestVerifyRefusals(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	v := testVerifier(now)
	cases := []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"missing", func() *http.Request { return httptest.NewRequest(http.MethodPost, "http://x/", nil) }, "MissingAuthenticationTokenException"},
		{"wrong secret", func() *http.Request { return signed(t, "POST", "http://x/", []byte("{}"), now, false, "nope") }, "InvalidSignatureException"},
		{"unknown key", func() *http.Request {
			r := signed(t, "POST", "http://x/", []byte("{}"), now, false, testKey.Secret)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIATEST", "AKIAOTHER", 1))
			return r
		}, "UnrecognizedClientException"},
		{"expired", func() *http.Request {
			return signed(t, "POST", "http://x/", []byte("{}"), now.Add(-16*time.Minute), false, testKey.Secret)
		}, "InvalidSignatureException"},
		{"from the future", func() *http.Request {
			return signed(t, "POST", "http://x/", []byte("{}"), now.Add(16*time.Minute), false, testKey.Secret)
		}, "InvalidSignatureException"},
		{"body changed", func() *http.Request {
			r := signed(t, "POST", "http://x/", []byte("{}"), now, false, testKey.Secret)
			r.Body = io.NopCloser(strings.NewReader(`{"evil":1}`))
			return r
		}, "InvalidSignatureException"},
		{"signed header changed", func() *http.Request {
			r := signed(t, "POST", "http://x/", []byte("{}"), now, false, testKey.Secret)
			r.Header.Set("X-Amz-Target", "CodePipeline_20150709.DeletePipeline")
			return r
		}, "InvalidSignatureException"},
		{"garbage header", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "http://x/", nil)
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, "IncompleteSignatureException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(c.req())
			var ae *Error
			if !errors.As(err, &ae) || ae.Type != c.want {
				t.Fatalf("want %s, got %v", c.want, err)
			}
		})
	}
}

func TestDeclaredPayloadHashIsCheckedWhileStreaming(t *testing.T) {
	now := time.Now()
	v := testVerifier(now)
	r := signed(t, http.MethodPut, "http://x/api/v1/buckets/b/objects/k", []byte("the real bundle"), now, true, testKey.Secret)
	r.Body = io.NopCloser(strings.NewReader("a swapped bundle"))
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("the signature covers the declared hash, so it verifies: %v", err)
	}
	if _, err := io.ReadAll(r.Body); !errors.Is(err, ErrPayloadMismatch) {
		t.Fatalf("reading a body that differs from the signed hash must fail, got %v", err)
	}
}

func TestBasicAuthWithAccessKeys(t *testing.T) {
	v := testVerifier(time.Now())
	r := httptest.NewRequest(http.MethodGet, "http://x/metrics", nil)
	r.SetBasicAuth(testKey.ID, testKey.Secret)
	if id, err := v.VerifyBasic(r); err != nil || id.Role != RoleOperator {
		t.Fatalf("basic: %+v %v", id, err)
	}
	r.SetBasicAuth(testKey.ID, "wrong")
	if _, err := v.VerifyBasic(r); err == nil {
		t.Fatal("a wrong secret must be refused")
	}
	r.SetBasicAuth("AKIANOBODY", testKey.Secret)
	if _, err := v.VerifyBasic(r); err == nil {
		t.Fatal("an unknown key must be refused")
	}
}

func TestRolesOrder(t *testing.T) {
	if !RoleAdmin.Allows(RoleApprover) || !RoleApprover.Allows(RoleOperator) || RoleOperator.Allows(RoleApprover) || RoleViewer.Allows(RoleOperator) {
		t.Error("roles must be ordered viewer < operator < approver < admin")
	}
	if RoleNone.Allows(RoleNone) {
		t.Error("no role allows nothing")
	}
	for _, n := range []string{"viewer", "operator", "approver", "admin"} {
		if r, err := ParseRole(n); err != nil || r.String() != n {
			t.Errorf("ParseRole(%q) = %v %v", n, r, err)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("unknown roles must be refused")
	}
}
