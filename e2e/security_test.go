package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	opsToken   = "ops-token-0123456789abcdef0123456789"
	aliceToken = "alice-token-0123456789abcdef01234567"
	wrongToken = "wrong-token-0123456789abcdef01234567"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func authAgent(t *testing.T) (*agent, string) {
	t.Helper()
	dir := t.TempDir()
	pa := filepath.Join(dir, "a.log")
	appendLines(t, pa, "line of a")
	appendLines(t, filepath.Join(dir, "b.log"), "line of b")
	cfg := fmt.Sprintf(`sources:
  - name: a
    files: [%s/a.log]
  - name: b
    files: [%s/b.log]
auth:
  tokens:
    - name: ops
      token_sha256: %q
      sources: ["*"]
    - name: alice
      token_sha256: %q
      sources: [a]
`, dir, dir, sha(opsToken), sha(aliceToken))
	// /readyz needs a token too; start waits on it, so give it one.
	return startAuthed(t, cfg), pa
}

func startAuthed(t *testing.T, cfg string) *agent {
	t.Helper()
	old := http.DefaultTransport
	http.DefaultTransport = &bearer{old}
	t.Cleanup(func() { http.DefaultTransport = old })
	a := start(t, cfg)
	http.DefaultTransport = old
	return a
}

// bearer adds the ops token to requests that carry none.
type bearer struct{ rt http.RoundTripper }

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+opsToken)
	}
	return b.rt.RoundTrip(r)
}

func status(t *testing.T, a *agent, method, path string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.url+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

func TestAuthPaths(t *testing.T) {
	a, _ := authAgent(t)
	bearerOf := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	for _, c := range []struct {
		path string
		hdr  []string
		want int
	}{
		{"/healthz", nil, 200},
		{"/favicon.ico", nil, 200}, // like /ui/*: no data, no token
		{"/ui/app.css", nil, 200},
		{"/stream/a", nil, 401},
		{"/api/sources", nil, 401},
		{"/metrics", nil, 401},
		{"/readyz", nil, 401},
		{"/", nil, 401},
		{"/stream/a", bearerOf(wrongToken), 401},
		{"/stream/a?token=" + wrongToken, nil, 401},
		{"/stream/b", bearerOf(aliceToken), 403},
		{"/stream?sources=a,b", bearerOf(aliceToken), 403},
		{"/stream/a?re=(", bearerOf(aliceToken), 400},
		{"/api/sources", bearerOf(opsToken), 200},
	} {
		if got, body := status(t, a, "GET", c.path, c.hdr...); got != c.want {
			t.Errorf("GET %s %v: %d %q, want %d", c.path, c.hdr, got, body, c.want)
		}
	}
	// The query token works for EventSource, which cannot set headers.
	c := a.open("/stream/a?tail=1&token="+aliceToken, "Authorization", "")
	if got := c.next(t).Data; got != "line of a" {
		t.Fatalf("query token stream: %q", got)
	}
	// A token sees only its sources.
	_, body := status(t, a, "GET", "/api/sources", bearerOf(aliceToken)...)
	if !strings.Contains(body, `"name":"a"`) || strings.Contains(body, `"name":"b"`) {
		t.Fatalf("alice's /api/sources: %s", body)
	}
	// The UI's session cookie.
	req, _ := http.NewRequest("POST", a.url+"/api/session", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "edgetail_token" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", cookie)
	}
	if got, _ := status(t, a, "GET", "/api/sources", "Cookie", "edgetail_token="+cookie.Value); got != 200 {
		t.Fatalf("cookie auth: %d", got)
	}
	// No token, right or wrong, shows in the agent's logs.
	time.Sleep(100 * time.Millisecond)
	logs := a.logs.String()
	for _, tok := range []string{opsToken, aliceToken, wrongToken} {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[:12]) {
			t.Fatalf("a token appears in the logs:\n%s", logs)
		}
	}
}

// A wrong token is refused in the same time as a right one is accepted,
// within noise: every configured digest is compared, in constant time.
func TestAuthTiming(t *testing.T) {
	a, _ := authAgent(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	measure := func(tok string) time.Duration {
		req, _ := http.NewRequest("GET", a.url+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(began)
	}
	var right, wrong []time.Duration
	for i := range 400 {
		if i%2 == 0 {
			right = append(right, measure(opsToken))
		} else {
			wrong = append(wrong, measure(wrongToken))
		}
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mr, mw := med(right), med(wrong)
	t.Logf("median over 200 requests each: right token %v, wrong token %v", mr, mw)
	diff := mr - mw
	if diff < 0 {
		diff = -diff
	}
	// Generous: the point is the absence of a systematic difference of the
	// size an early-exit comparison of a matching prefix would show under
	// load; the machine is shared and noisy.
	if diff > time.Millisecond && diff > (mr+mw)/2 {
		t.Fatalf("right %v vs wrong %v", mr, mw)
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgetail test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSNegotiatesHTTP2(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	path := filepath.Join(dir, "app.log")
	appendLines(t, path, "over tls")
	cfg := fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\ntls: {cert: %s, key: %s}\n", path, certFile, keyFile)
	old := http.DefaultTransport
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	http.DefaultTransport = tr
	defer func() { http.DefaultTransport = old }()
	// start polls http://.../readyz; with TLS it must use https.
	a := startTLS(t, cfg)
	resp, err := http.Get(a.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("negotiated %s, want HTTP/2", resp.Proto)
	}
	// More than 6 streams at once over one HTTP/2 connection.
	var cs []*client
	for range 8 {
		cs = append(cs, a.open("/stream/app?tail=1"))
	}
	for _, c := range cs {
		if got := c.next(t).Data; got != "over tls" {
			t.Fatalf("stream over h2: %q", got)
		}
	}
}

// Over HTTP/1.1 a TLS stream is taken over from net/http like a plain one
// (its goroutine waits in a read of the *tls.Conn, and is woken by moving
// that read's deadline): live lines come, and still come after heartbeats.
func TestTLSHTTP1StreamIsLive(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	path := filepath.Join(dir, "app.log")
	appendLines(t, path, "before")
	cfg := fmt.Sprintf("sources:\n  - name: app\n    files: [%s]\ntls: {cert: %s, key: %s}\nstream:\n  heartbeat: 300ms\n", path, certFile, keyFile)
	old := http.DefaultTransport
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	http.DefaultTransport = tr
	defer func() { http.DefaultTransport = old; tr.CloseIdleConnections() }()
	a := startTLS(t, cfg)
	c := a.open("/stream/app?tail=0")
	appendLines(t, path, "live one")
	if got := c.next(t).Data; got != "live one" {
		t.Fatalf("first live line over TLS/HTTP/1.1: %q", got)
	}
	time.Sleep(1500 * time.Millisecond) // several heartbeats
	appendLines(t, path, "live two")
	if got := c.next(t).Data; got != "live two" {
		t.Fatalf("second live line over TLS/HTTP/1.1: %q", got)
	}
}

func startTLS(t *testing.T, cfg string) *agent {
	t.Helper()
	httpsReady = true
	defer func() { httpsReady = false }()
	return start(t, cfg)
}

func TestCORS(t *testing.T) {
	preflight := func(a *agent, origin string) http.Header {
		req, _ := http.NewRequest(http.MethodOptions, a.url+"/stream/app", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "last-event-id")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	_, cfg := fileSource(t, "")
	off := start(t, cfg)
	if h := preflight(off, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS is off by default, yet: %v", h)
	}
	on := start(t, cfg+"cors:\n  allowed_origins: [\"https://ops.example\"]\n")
	h := preflight(on, "https://ops.example")
	if h.Get("Access-Control-Allow-Origin") != "https://ops.example" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") {
		t.Fatalf("allowed origin preflight: %v", h)
	}
	if h := preflight(on, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin allowed: %v", h)
	}
}

func TestBindSafety(t *testing.T) {
	_, cfg := fileSource(t, "")
	cfg = "listen: 0.0.0.0:0\n" + cfg
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte(cfg), 0o644)
	out, err := execOut(binary, "-config", f)
	if exitCode(err) != 1 || !strings.Contains(out, "insecure: true") || !strings.Contains(out, "auth") {
		t.Fatalf("0.0.0.0 without auth or tls: exit %d\n%s", exitCode(err), out)
	}
	// With insecure: true it starts (and is reached on 127.0.0.1 only).
	a := start(t, cfg+"insecure: true\n")
	a.url = strings.Replace(a.url, "0.0.0.0", "127.0.0.1", 1)
	if got, _ := status(t, a, "GET", "/healthz"); got != 200 {
		t.Fatalf("insecure agent: %d", got)
	}
}
