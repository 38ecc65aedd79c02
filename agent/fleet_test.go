package agent

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgetail/hub"

	"github.com/nats-io/nats-server/v2/server"
)

func startTestNATS(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

func TestFleetConfigProblemsHaveLines(t *testing.T) {
	_, err := ParseConfig([]byte(`sources:
  - name: app
    files: [/var/log/app.log]
    publish: true
  - name: host
    metrics: {}
    publish: true
fleet:
  nats: []
  stream: "bad.name"
  max_bytes: lots
  tls: {cert: /c.pem}
`), "f.yaml")
	got := fmt.Sprint(err)
	for _, want := range []string{
		"f.yaml:9: fleet.nats: list at least one NATS server",
		"f.yaml:10: fleet.stream:",
		"f.yaml:11: fleet.max_bytes:",
		"f.yaml:12: fleet.tls: cert and key go together",
		"f.yaml:7: sources[1].publish: metrics sources are not published",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, strings.ReplaceAll(got, "; ", "\n"))
		}
	}
	_, err = ParseConfig([]byte("sources:\n  - name: app\n    files: [/x.log]\n    publish: true\n"), "p.yaml")
	if !strings.Contains(fmt.Sprint(err), "p.yaml:4: sources[0].publish: publish: true needs a fleet: block") {
		t.Errorf("publish without fleet: %v", err)
	}
	if n, err := parseBytes("1GiB"); err != nil || n != 1<<30 {
		t.Errorf("1GiB = %d, %v", n, err)
	}
	if _, err := hub.ParseConfig([]byte("fleet: {nats: [nats://127.0.0.1:4222]}\nauth:\n  tokens:\n    - name: ops\n      token_sha256: \""+strings.Repeat("a", 64)+"\"\n      sources: [\"nginx*\"]\n      hosts: [\"web-[\"]\n"), "h.yaml"); !strings.Contains(fmt.Sprint(err), "h.yaml:4: auth.tokens[0]: bad glob") {
		t.Errorf("hub config: %v", err)
	}
}

// An agent's file source reaches `edgetail hub` through a real JetStream
// server, and the hub's tokens enforce hosts:.
func TestAgentPublishesAndHubServes(t *testing.T) {
	url := startTestNATS(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	os.WriteFile(logPath, nil, 0o644)
	cfg, err := ParseConfig(fmt.Appendf(nil, `sources:
  - name: app
    files: [%s]
    publish: true
fleet:
  nats: [%s]
  host: web-7
  state_dir: %s
`, logPath, url, filepath.Join(dir, "state")), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _, adone := serveAgent(ctx, t, cfg)

	tok := "hub-secret"
	sum := sha256.Sum256([]byte(tok))
	hc, err := hub.ParseConfig(fmt.Appendf(nil, `fleet: {nats: [%s]}
stream: {heartbeat: 1s}
auth:
  tokens:
    - name: web
      token_sha256: %q
      sources: ["*"]
      hosts: ["web-*"]
`, url, hex.EncodeToString(sum[:])), "h.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hln, _ := net.Listen("tcp", "127.0.0.1:0")
	hdone := make(chan error, 1)
	go func() { hdone <- hub.Run(ctx, hc, nil, hln) }()
	hub := "http://" + hln.Addr().String()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	get := func(path string) *http.Response {
		req, _ := http.NewRequest("GET", hub+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := get("/readyz")
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("hub never ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp := get("/stream?hosts=db-1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("hosts=db-1: %d, want 403", resp.StatusCode)
		resp.Body.Close()
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", hub+"/stream?tail=0&format=text", nil)
	if resp, _ := tr.RoundTrip(req); resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: want 401")
	} else {
		resp.Body.Close()
	}
	// The UI: the page with its host picker, and its script.
	for path, want := range map[string]string{"/": "host-list", "/ui/fleet.js": "hosts.js"} {
		resp := get(path)
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text())
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(b.String(), want) {
			t.Errorf("GET %s: %d, without %q", path, resp.StatusCode, want)
		}
	}
	resp := get("/stream?tail=0&format=text")
	defer resp.Body.Close()
	f, _ := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("hello fleet\n")
	f.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if strings.TrimSpace(line) == "data: [web-7/app] hello fleet" {
			break
		}
	}
	cancel()
	for _, c := range []<-chan error{adone, hdone} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("did not stop")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "fleet-app.json")); err != nil {
		t.Errorf("state file: %v", err)
	}
}
